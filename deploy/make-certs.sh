#!/bin/sh
# Certificates for the home GPU worker's mutual TLS: a private CA, the server certificate for the
# name the worker dials, and one client certificate per GPU machine.
#
#   deploy/make-certs.sh temporal.example.com [gpu-home-1]
#
# Writes deploy/certs/: ca.pem + ca.key (keep the key offline), server.pem + server.key (for the
# temporal-mtls proxy), <client>.pem + <client>.key (copy these and ca.pem to the GPU machine).
set -eu
host="${1:?usage: $0 HOSTNAME [CLIENT_NAME]}"
client="${2:-gpu-worker}"
dir="$(dirname "$0")/certs"
mkdir -p "$dir" && cd "$dir"
if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=comfyloom CA" -keyout ca.key -out ca.pem
fi
if [ ! -f server.key ]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" -keyout server.key -out server.csr
  printf "subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" "$host" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile server.ext -out server.pem
  rm server.csr server.ext
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$client" -keyout "$client.key" -out "$client.csr"
printf "extendedKeyUsage=clientAuth\n" > "$client.ext"
openssl x509 -req -in "$client.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile "$client.ext" -out "$client.pem"
rm "$client.csr" "$client.ext"
chmod 600 ./*.key
echo "GPU machine gets: $dir/ca.pem $dir/$client.pem $dir/$client.key"
echo "  TEMPORAL_ADDRESS=$host:7443 TEMPORAL_TLS_CA=ca.pem TEMPORAL_TLS_CERT=$client.pem TEMPORAL_TLS_KEY=$client.key"
