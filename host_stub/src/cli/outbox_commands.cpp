// The commands on host users and their nudges: delete-user, settings, nudge, outbox.
#include "cli/cli_support.hpp"

#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <iostream>

namespace cli {
namespace {

namespace json = boost::json;

int64_t nudge_id_option(const po::variables_map& vm) {
    int64_t id = vm["id"].as<int64_t>();
    if (id <= 0)
        throw UsageError("--id " + std::to_string(id) + ": a nudge id is a positive number (see `outbox --user ID`)");
    return id;
}

// An operator's decision on one nudge: `outbox requeue --id N` sends a held (stranded) nudge
// with its user's current provider and mailbox; `outbox fail --id N` gives up on it.
int cmd_outbox_decision(host::HostRuntime& rt, const GlobalOptions& o, const std::string& action,
                        const std::vector<std::string>& args) {
    po::options_description desc("outbox " + action);
    desc.add_options()("id", po::value<int64_t>()->required(), "nudge id");
    if (action == "fail") desc.add_options()("reason", po::value<std::string>()->default_value("no reason given"), "");
    auto vm = parse(args, desc);
    int64_t id = nudge_id_option(vm);
    auto n = rt.store->nudge(id);
    if (!n) throw std::runtime_error("there is no nudge " + std::to_string(id) + " (see `outbox --user ID`)");
    if (action == "requeue")
        rt.outbox->requeue(id, n->user_id);
    else
        rt.outbox->fail(id, n->user_id, "failed_by_operator",
                        "Failed by an operator: " + vm["reason"].as<std::string>());
    auto after = rt.store->nudge(id);
    std::string state = after ? host::to_string(after->state) : "deleted";
    print(
        o, json::serialize(json::object{{"id", id}, {"state", state}, {"provider", after ? after->provider : ""}}),
        "nudge " + std::to_string(id) + " of " + n->user_id + ": " + state +
            (action == "requeue" ? " via " + (after ? after->provider : std::string("?")) + " (sent by `serve`)" : ""));
    return kOk;
}

}  // namespace

int cmd_delete_user(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("delete-user");
    desc.add_options()("user", po::value<std::string>()->required(), "host user id");
    auto vm = parse(args, desc);
    std::string user = vm["user"].as<std::string>();
    require_user(rt, user, ": nothing was deleted");
    rt.delete_user(user);
    print(o, json::serialize(json::object{{"deleted", user}}),
          "deleted user " + user + ": every provider forgot the account and its stored tokens");
    return kOk;
}

int cmd_settings(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("settings");
    desc.add_options()("user", po::value<std::string>()->required(), "")("channel", po::value<std::string>(), "")(
        "email-provider", po::value<std::string>(), "");
    auto vm = parse(args, desc);
    std::string user = vm["user"].as<std::string>();
    require_user(rt, user, " (users come from the host config)");
    host::CommunicationSettings s = rt.store->settings(user);
    if (vm.count("channel")) {
        if (vm["channel"].as<std::string>() != "email") throw UsageError("--channel: only \"email\" is supported");
        s.preferred_channel = "email";
    }
    if (vm.count("email-provider")) {
        std::string p = vm["email-provider"].as<std::string>();
        rt.providers->require(p);  // throws, saying why, when unavailable
        s.email_provider = p;
    }
    rt.store->save_settings(user, s);
    print(o,
          json::serialize(json::object{
              {"user", user}, {"preferred_channel", s.preferred_channel}, {"email_provider", s.email_provider}}),
          user + ": preferred channel " + s.preferred_channel + ", email provider " +
              (s.email_provider.empty() ? "(none)" : s.email_provider));
    return kOk;
}

// Queues a nudge in the durable outbox (sent by `serve`'s worker, like the settings page's).
int cmd_nudge(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("nudge");
    desc.add_options()("user", po::value<std::string>()->required(), "")("to", po::value<std::string>()->required(),
                                                                         "")("subject", po::value<std::string>(), "")(
        "text", po::value<std::string>()->required(), "")("follows", po::value<std::string>(), "");
    auto vm = parse(args, desc);
    std::string user = vm["user"].as<std::string>();
    require_user(rt, user, " (users come from the host config)");
    // A follow-up may leave the subject to the host: "Re: " and the followed nudge's.
    if (!vm.count("subject") && !vm.count("follows"))
        throw UsageError("nudge: --subject is required (unless --follows names the nudge it answers)");
    json::object message{{"to", json::array{json::object{{"address", vm["to"].as<std::string>()}}}},
                         {"subject", vm.count("subject") ? vm["subject"].as<std::string>() : std::string()},
                         {"text", vm["text"].as<std::string>()}};
    host::FollowUp follows =
        vm.count("follows") ? host::parse_follow_up(vm["follows"].as<std::string>()) : host::FollowUp{};
    int64_t id = rt.outbox->enqueue(user, std::move(message), follows);
    print(o, json::serialize(json::object{{"id", id}}), "queued nudge " + std::to_string(id));
    return kOk;
}

int cmd_outbox(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    if (!args.empty() && (args[0] == "requeue" || args[0] == "fail"))
        return cmd_outbox_decision(rt, o, args[0], {args.begin() + 1, args.end()});
    if (!args.empty() && !args[0].starts_with("-"))
        throw UsageError("outbox: unknown action '" + args[0] + "' (known: requeue, fail; or --user ID to list)");
    po::options_description desc("outbox");
    desc.add_options()("user", po::value<std::string>()->required(), "")("limit", po::value<int>()->default_value(50),
                                                                         "");
    auto vm = parse(args, desc);
    json::array list;
    std::string text;
    for (const auto& n : rt.store->outbox(vm["user"].as<std::string>(), vm["limit"].as<int>())) {
        list.push_back(json::object{{"id", n.id},
                                    {"state", host::to_string(n.state)},
                                    {"to", n.to},
                                    {"subject", n.subject},
                                    {"provider", n.provider},
                                    {"attempts", n.attempts},
                                    {"code", n.last_code},
                                    {"message", n.last_message},
                                    {"client_request_id", n.client_request_id},
                                    {"mailbox", n.mailbox},
                                    {"stranded", host::is_stranded(n)},
                                    {"follows", n.thread.follows_id},
                                    {"in_thread_with", host::thread_label(n)},
                                    {"message_id", n.thread.message_id},
                                    {"sent_message_id", n.thread.sent_message_id},
                                    {"provider_thread_id", n.thread.provider_thread_id}});
        std::string thread = host::thread_label(n);
        text += std::to_string(n.id) + "\t" + host::to_string(n.state) + (host::is_stranded(n) ? " (stranded)" : "") +
                "\t" + n.to + "\t" + n.subject + (thread.empty() ? "" : " (" + thread + ")") +
                (n.last_message.empty() ? "" : "\t" + n.last_message) + "\n";
    }
    if (o.json)
        std::cout << json::serialize(json::object{{"outbox", list}}) << "\n";
    else
        std::cout << (text.empty() ? "(empty)\n" : text);
    return kOk;
}

}  // namespace cli
