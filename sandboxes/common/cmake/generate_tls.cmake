# Generates the sandbox's test PKI with the openssl CLI. Run at build time by
#   cmake -DOPENSSL_EXECUTABLE=... -DOUT_DIR=... -P generate_tls.cmake
# Everything lands in OUT_DIR (inside the build tree) and is never committed.
#
#   ca.pem / ca-key.pem                 test CA that clients trust (CURLOPT_CAINFO)
#   server.pem / server-key.pem         leaf for SAN IP:127.0.0.1, DNS:localhost     (--cert good)
#   wrong-host.pem                      leaf for SAN DNS:wrong.example only          (--cert wrong-host)
#   expired.pem                         leaf valid 2020-01-01..2021-01-01            (--cert expired)
#   other-ca.pem / other-ca-key.pem     an unrelated CA ("wrong CA" tests)
#   client-cert.pem / client-key.pem    confidential-client credential (registered in scenarios)
#   other-client-cert.pem / -key.pem    a credential no app registers
#   client-secret.txt                   the confidential app's client secret (scenario "value_file")
#   expired-client-secret.txt           a second secret the scenario marks as expired
#   google-client-secret.txt            the Google stand-in's web client secret ("GOCSPX-" + 28)
# All leaves share server-key.pem so that only the certificate differs between fault modes.
cmake_minimum_required(VERSION 3.25)
if(NOT OPENSSL_EXECUTABLE OR NOT OUT_DIR)
  message(FATAL_ERROR "generate_tls.cmake needs OPENSSL_EXECUTABLE and OUT_DIR")
endif()

set(work "${OUT_DIR}/work")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${OUT_DIR}" "${work}")

function(run_openssl)
  execute_process(COMMAND "${OPENSSL_EXECUTABLE}" ${ARGN}
                  WORKING_DIRECTORY "${work}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "openssl ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
endfunction()

file(WRITE "${work}/server.ext"
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
  "authorityKeyIdentifier=keyid\n")
file(WRITE "${work}/wrong-host.ext"
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example\nauthorityKeyIdentifier=keyid\n")

# Two CAs: the trusted one and an unrelated one.
foreach(ca IN ITEMS ca other-ca)
  run_openssl(req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650
              -keyout ${ca}-key.pem -out ${ca}.pem -subj "/CN=MS Sandbox ${ca} (test only)"
              -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign")
endforeach()

# Server key + CSR shared by the three leaves.
run_openssl(req -new -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj "/CN=localhost")
run_openssl(x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256
            -days 825 -extfile server.ext -out server.pem)
run_openssl(x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256
            -days 825 -extfile wrong-host.ext -out wrong-host.pem)

# OpenSSL 3.0's `x509 -req` cannot back-date (-not_before arrived in 3.4), so the expired leaf
# goes through `openssl ca`, which accepts explicit -startdate/-enddate.
file(WRITE "${work}/index.txt" "")
file(WRITE "${work}/serial" "1000\n")
file(WRITE "${work}/ca.cnf"
  "[ca]\ndefault_ca=sandbox\n[sandbox]\ndir=.\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
  "default_md=sha256\npolicy=anything\nunique_subject=no\ncopy_extensions=none\n"
  "[anything]\ncommonName=optional\n"
  "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
run_openssl(ca -config ca.cnf -batch -notext -cert ca.pem -keyfile ca-key.pem -extensions leaf
            -startdate 20200101000000Z -enddate 20210101000000Z -in server.csr -out expired.pem)

# Client credentials for confidential apps (self-signed, as Entra app certificates usually are).
foreach(client IN ITEMS client other-client)
  run_openssl(req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650
              -keyout ${client}-key.pem -out ${client}-cert.pem -subj "/CN=MS Sandbox ${client} credential")
endforeach()

# Client secrets in Microsoft's shape (a short prefix, '~', then random characters): generated,
# so no secret value ever lives in the repository.
foreach(secret IN ITEMS client-secret expired-client-secret)
  execute_process(COMMAND "${OPENSSL_EXECUTABLE}" rand -hex 20 OUTPUT_VARIABLE random OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "openssl rand failed")
  endif()
  file(WRITE "${work}/${secret}.txt" "Sbx8Q~${random}\n")
endforeach()
# Google's client secrets read "GOCSPX-" and 28 more characters.
execute_process(COMMAND "${OPENSSL_EXECUTABLE}" rand -hex 14 OUTPUT_VARIABLE random OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "openssl rand failed")
endif()
file(WRITE "${work}/google-client-secret.txt" "GOCSPX-${random}\n")

foreach(f ca.pem ca-key.pem other-ca.pem other-ca-key.pem server.pem server-key.pem wrong-host.pem
          expired.pem client-cert.pem client-key.pem other-client-cert.pem other-client-key.pem
          client-secret.txt expired-client-secret.txt google-client-secret.txt)
  file(COPY_FILE "${work}/${f}" "${OUT_DIR}/${f}")
endforeach()
file(REMOVE_RECURSE "${work}")
