#!/bin/sh
# Certificates for the home GPU worker's mutual TLS: a private CA, the server certificate for the
# name the worker dials, and one client certificate per GPU machine.
#
#   deploy/make-certs.sh temporal.example.com [gpu-home-1]   # the CA, the door's certificate, one machine's
#   deploy/make-certs.sh --revoke gpu-home-1                  # that machine is refused from the door's reload on
#
# Writes deploy/certs/: ca.pem + ca.key (keep the key offline), server.pem + server.key (for the
# temporal-mtls door), <client>.pem + <client>.key for one GPU machine, and revoked.map (the serials the door
# refuses). On the GPU machine the three files are certs/ca.pem, certs/gpu-worker.pem and certs/gpu-worker.key
# whatever the client's name here: `scripts/gpu-worker --ca … --cert … --key …` copies them there.
set -eu
dir="$(dirname "$0")/certs"
if [ "${1:-}" = "--revoke" ]; then
  client="${2:?usage: $0 --revoke CLIENT_NAME}"
  serial="$(openssl x509 -in "$dir/$client.pem" -noout -serial | cut -d= -f2)"
  echo "$serial 1;  # $client, revoked $(date -u +%Y-%m-%d)" >> "$dir/revoked.map"
  echo "revoked $client (serial $serial): docker compose exec temporal-mtls nginx -s reload"
  exit 0
fi
host="${1:?usage: $0 HOSTNAME [CLIENT_NAME] | $0 --revoke CLIENT_NAME}"
client="${2:-gpu-worker}"
mkdir -p "$dir" && cd "$dir"
touch revoked.map
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
echo "GPU machine $client gets: $dir/ca.pem $dir/$client.pem $dir/$client.key; there, in the checkout:"
echo "  scripts/gpu-worker --temporal $host:7443 --ca ca.pem --cert $client.pem --key $client.key"
echo "  (which copies them to certs/ca.pem, certs/gpu-worker.pem, certs/gpu-worker.key for gpu-worker.env)"
