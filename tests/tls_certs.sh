#!/bin/sh
# tests/tls_certs.sh DIR — the test PKI, made at test time (Debian's openssl):
#   ca.pem                 the test CA (tests trust it through ca_file)
#   server.pem/.key        CN=localhost, SAN localhost and 127.0.0.1, by the CA
#   expired.pem/.key       the same names, by the CA, valid 2020-01-01..02 only
#   other-ca.pem           a second CA nobody trusts;
#   stranger.pem/.key      a server certificate by it (the "unknown CA" case)
#   client.pem/.key        CN=test-client, by the CA (mutual TLS)
# P-256 keys: quick to make and to handshake with.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days 30 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
csr() { # name subject
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
}
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > server.ext
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
ca ca /CN=evasync-test-ca
ca other-ca /CN=evasync-other-ca
csr server /CN=localhost
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext \
  -out server.pem 2>/dev/null
csr stranger /CN=localhost
openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out stranger.pem 2>/dev/null
csr client /CN=test-client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext \
  -out client.pem 2>/dev/null
# An expired certificate: `openssl ca` takes explicit dates (x509 -days cannot go back).
csr expired /CN=localhost
mkdir -p ca-db
: > ca-db/index.txt
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = CA:FALSE
CNF
echo 1000 > ca-db/serial
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -notext \
  -startdate 20200101000000Z -enddate 20200102000000Z -extensions ext 2>/dev/null
