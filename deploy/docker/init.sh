#!/bin/sh
# One-shot set-up of the compose axis (what an axis operator does once):
# root key, a signed directory of two agencies and their keys, agency
# configurations, broker users as boot-time definitions for RabbitMQ.
# Idempotent: does nothing if /etc/docaxis/done exists.
set -eu
cd /etc/docaxis
[ -f done ] && { echo "already initialised"; exit 0; }
docaxis keygen --out root
docaxis directory init --root-key root.key --out directory.json
add() { # id key-id name
  docaxis directory add --root-key root.key --id "$1" --name "$3"
  docaxis keygen --out "$1"
  docaxis directory add-key --root-key root.key --id "$1" --key-id "$2" \
    --public "$1.pub" --not-before 2020-01-01T00:00:00Z
  cat > "$1.toml" <<EOT
organ_id = "$1"
key_file = "/etc/docaxis/$1.key"
key_id = "$2"
directory = "/etc/docaxis/directory.json"
root_pub = "/etc/docaxis/root.pub"
data_dir = "/var/lib/docaxis/data"
http = "127.0.0.1:8410"
EOT
}
add 000.00.00.G22 G22-k1 "Văn phòng Chính phủ"
add 000.00.00.G12 G12-k1 "Bộ Tài chính"
# Users of every agency, the tracker and the operator, loaded by the
# RabbitMQ nodes at boot (load_definitions in rabbitmq.conf).
docaxis broker provision --directory directory.json --root-pub root.pub \
  --vhost / --tracker-user docaxis-tracker --admin-user operator \
  --out-dir passwords --print-definitions > definitions.json
chmod 0644 definitions.json
# The services run as the image's docaxis user; the keys stay 0600.
chown -R docaxis:docaxis /etc/docaxis
touch done
echo "initialised: directory of 2 agencies, definitions.json, passwords/"
