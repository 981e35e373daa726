# Debian package installs shared by the scripts (sourced, not run).
#
# apt_install never lets apt remove a package: it simulates the install first and stops,
# naming them, when apt would remove anything (a newer qemu-utils, say, that the packages
# asked for do not accept). Packages may be pinned as NAME=VERSION; a pinned package that
# is installed at another version is replaced (downgraded where needed).

apt_log() { printf '==> %s\n' "$*" >&2; }
apt_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

apt_updated=
apt_update_once() {
  [ -n "$apt_updated" ] && return 0
  apt-get update -qq || apt_die "apt-get update failed"
  apt_updated=1
}

# installed_version NAME: the installed version, or nothing.
installed_version() {
  { dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$1 == "installed" { print $2 }'
}

# apt_install NAME[=VERSION]...: installs what is missing or at another version.
apt_install() {
  local wanted=() spec name version have
  for spec in "$@"; do
    name=${spec%%=*}
    version=
    [ "$name" != "$spec" ] && version=${spec#*=}
    have=$(installed_version "$name")
    if [ -z "$have" ] || { [ -n "$version" ] && [ "$have" != "$version" ]; }; then
      wanted+=("$spec")
    fi
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || apt_die "missing packages ${wanted[*]} (run as root, or install them)"
  apt_update_once
  local plan removed
  plan=$(DEBIAN_FRONTEND=noninteractive apt-get install -s --allow-downgrades "${wanted[@]}" 2>&1) \
    || apt_die "apt-get cannot install ${wanted[*]}: $(printf '%s\n' "$plan" | grep '^E:' | head -3)"
  removed=$(printf '%s\n' "$plan" | awk '/^Remv / { print $2 }' | tr '\n' ' ')
  [ -z "$removed" ] || apt_die "installing ${wanted[*]} would remove ${removed}; refusing (install matching versions by hand)"
  apt_log "installing ${wanted[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades "${wanted[@]}" >/dev/null \
    || apt_die "apt-get install ${wanted[*]} failed"
}

# qemu_install: qemu-system-x86 and qemu-utils (and busybox-static, for the test guest) at one
# QEMU version. qemu-system-x86's dependencies pin qemu-system-common to its own version and
# refuse other qemu-utils versions, and apt would rather remove qemu-utils than downgrade it,
# so both are asked for at the same version: the one qemu-system-x86 is installed at, else its
# candidate (Debian bookworm: 7.2).
qemu_install() {
  local version
  version=$(installed_version qemu-system-x86)
  if [ -z "$version" ]; then
    apt_update_once
    version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ { print $2 }')
    [ -n "$version" ] && [ "$version" != "(none)" ] || apt_die "no qemu-system-x86 package is available"
  fi
  local utils=qemu-utils=$version
  # A qemu-utils that already works beside an installed qemu-system-x86 is left alone.
  if [ -n "$(installed_version qemu-system-x86)" ] && [ -n "$(installed_version qemu-utils)" ]; then
    utils=qemu-utils
  fi
  apt_install "qemu-system-x86=$version" "$utils" busybox-static
}
