#!/bin/sh
# PID 1 of the enclave image: bring the loopback up (an enclave boots with it down and has no
# other interface), map the names the master dials to loopback (ENCLAVE_HOSTS: "name ..."), start
# the vsock forwarders (ENCLAVE_FORWARDS), then run the master in the foreground.
set -eu

python3 - <<'PY'
import fcntl, socket, struct
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket() as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0))[:18])[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
PY

for name in ${ENCLAVE_HOSTS}; do
    echo "127.0.0.1 ${name}" >> /etc/hosts  # TLS still checks the real name, end to end
done

set --
for forward in ${ENCLAVE_FORWARDS}; do
    set -- "$@" --forward "${forward}"
done
k3s-daas vsock-proxy "$@" &

mkdir -p "${K3S_DAAS_HOME}"
exec k3s-daas nautilus start
