#!/usr/bin/env bash
# Installs the Debian packages Parley needs, when they are missing.
#   system-deps.sh run   what `make run` needs (a Python with venv support)
#   system-deps.sh test  plus what the test suite drives (PostgreSQL server, swaks, msmtp, fetchmail, mbsync, sipp,
#                        valgrind for the media relay's memory check, baresip-core for the softphone test)
# Runs apt-get only when something is missing, as root or through sudo.
set -euo pipefail

purpose="${1:-run}"
missing=()

python_bin="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3 python3-venv python3-dev)
fi
if [ "$purpose" = "test" ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
    command -v swaks >/dev/null 2>&1 || missing+=(swaks)
    command -v fetchmail >/dev/null 2>&1 || missing+=(fetchmail)
    command -v msmtp >/dev/null 2>&1 || missing+=(msmtp)
    command -v mbsync >/dev/null 2>&1 || missing+=(isync)
    command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "error: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts a cluster on install; the tests start their own, so stop it to free port 5432.
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    "${sudo[@]}" service postgresql stop >/dev/null 2>&1 || true
fi
