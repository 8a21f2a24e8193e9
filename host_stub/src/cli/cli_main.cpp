// host_stub: the reference host's command line.
//
//   host_stub [--config FILE] [--json] <command> [options]
//
// Every error ends the process with a non-zero status and one line on stderr saying why.
// Exit status: 0 success, 1 error, 2 usage error, 3 the provider answered but the outcome
// was not a success (send not sent, connect not connected).

#include "cli/cli_commands.hpp"

#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(usage: host_stub [--config FILE] [--json] <command> [options]

The reference host for email provider plugins.

commands:
  providers                        list configured providers, their ABI versions and load errors
  connect    --provider ID --account A [--login-hint H] [--prompt P] [--callback URL]
                                   start connecting an account; prints the URL to open, then reads
                                   the callback URL from --callback or standard input
             --admin-consent [--tenant T]
                                   print the link an IT administrator opens to approve the app
                                   for a whole organisation (providers that have one)
  complete   --provider ID --account A --callback URL
                                   finish a connect with the URL the browser was sent back to
  status     --provider ID --account A
  check      --provider ID --account A
                                   ask the provider whether a send now would go out
  disconnect --provider ID --account A
  send       --provider ID --account A --to ADDR [--to ADDR...] [--cc ADDR] [--bcc ADDR]
             [--reply-to ADDR] --subject S (--text T | --html H | both) [--attach FILE...]
             [--header "x-name: value"...] [--importance low|normal|high]
             [--no-save-to-sent-items] [--client-request-id ID]
  settings   --user ID [--channel email] [--email-provider ID]
                                   show or change a user's communication settings
  nudge      --user ID --to ADDR --subject S --text T [--follows N|<message-id>]
                                   queue a nudge in the durable outbox (sent by `serve`);
                                   --follows: a follow-up, in that nudge's (or message's)
                                   conversation; without --subject it is "Re: " the first
  outbox     --user ID [--limit N] list a user's nudges and their states
  outbox requeue --id N            send a held (stranded) nudge with its user's current provider
  outbox fail --id N [--reason R]  give up on a nudge that is not with a provider
  reload     --pid-file FILE       ask the running serve to re-read the config and manifests
  delete-user --user ID            delete a host user: every provider forgets the account
  serve      [--port N] [--pid-file FILE]
                                   run the settings page and the outbox until Ctrl-C;
                                   SIGHUP (or `reload`) re-reads the config and manifests

global options:
  --config FILE   host configuration (default: $HOST_STUB_CONFIG, else ./host.json)
  --json          print the provider's JSON documents instead of text
  --help          this text
)";

}  // namespace

int main(int argc, char** argv) {
    po::options_description global("global");
    global.add_options()("help,h", "")("config", po::value<std::string>(), "")("json", "")(
        "command", po::value<std::string>(), "")("args", po::value<std::vector<std::string>>(), "");
    po::positional_options_description positional;
    positional.add("command", 1).add("args", -1);

    po::variables_map vm;
    std::vector<std::string> rest;
    try {
        po::parsed_options parsed =
            po::command_line_parser(argc, argv).options(global).positional(positional).allow_unregistered().run();
        po::store(parsed, vm);
        rest = po::collect_unrecognized(parsed.options, po::include_positional);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "host_stub: %s (see --help)\n", e.what());
        return 2;
    }
    if (vm.count("help") || !vm.count("command")) {
        std::fputs(kUsage, vm.count("help") ? stdout : stderr);
        return vm.count("help") ? 0 : 2;
    }
    if (!rest.empty()) rest.erase(rest.begin());  // the command itself

    cli::GlobalOptions options;
    options.json = vm.count("json") > 0;
    if (vm.count("config"))
        options.config_path = vm["config"].as<std::string>();
    else if (const char* env = std::getenv("HOST_STUB_CONFIG"))
        options.config_path = env;
    else
        options.config_path = "host.json";

    return cli::run_command(vm["command"].as<std::string>(), rest, options);
}
