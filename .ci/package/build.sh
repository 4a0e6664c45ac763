#!/usr/bin/env bash
# Build the textback binary and its .deb and .rpm with nfpm.
#
#   bash .ci/package/build.sh [OUTDIR]     default: $LAB_STATE/package
#
# nfpm comes from .ci/package/tools (its own go.mod, pinned), so it never
# enters textback's dependencies. The version is `git describe --tags
# --always --dirty` (or $TEXTBACK_VERSION, or 0.0.0-unknown outside git); the
# binary prints it in `textback version`. Needs Go and sed; not root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
LAB_STATE=${LAB_STATE:-/var/tmp/textback-lab}
out=${1:-$LAB_STATE/package}
log() { printf '[package %(%T)T] %s\n' -1 "$*" >&2; }

# --- version ---------------------------------------------------------------
version=${TEXTBACK_VERSION:-}
if [ -z "$version" ]; then
	version=$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || true)
fi
version=${version:-0.0.0-unknown}
# The package version must sort: v1.2.3 -> 1.2.3; v1.2.3-4-gabc-dirty ->
# 1.2.3+git4.gabc.dirty (after 1.2.3); no tag (abc1234[-dirty]) ->
# 0.0.0+gitN.abc1234[.dirty], N the commit count so later builds sort later.
if [[ $version =~ ^v?([0-9]+\.[0-9]+\.[0-9]+)(-(.*))?$ ]]; then
	base=${BASH_REMATCH[1]} rest=${BASH_REMATCH[3]}
	if [[ $rest =~ ^([0-9]+)-(g[0-9a-f]+)(-dirty)?$ ]]; then
		pkg_version="$base+git${BASH_REMATCH[1]}.${BASH_REMATCH[2]}${BASH_REMATCH[3]:+.dirty}"
	elif [ -n "$rest" ]; then
		pkg_version="$base+${rest//-/.}"
	else
		pkg_version=$base
	fi
elif [[ $version =~ ^([0-9a-f]{7,})(-dirty)?$ ]]; then
	count=$(git -C "$repo" rev-list --count HEAD 2>/dev/null || echo 0)
	pkg_version="0.0.0+git$count.${BASH_REMATCH[1]}${BASH_REMATCH[2]:+.dirty}"
else
	pkg_version="0.0.0+${version//[^A-Za-z0-9.]/.}"
fi
arch=${GOARCH:-$(go env GOARCH)}
# Package timestamps from the commit, so a rebuild of one commit is the same.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
	export SOURCE_DATE_EPOCH
fi

# --- stage -----------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d "${TMPDIR:-/tmp}/textback-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT

log "building textback $version (package $pkg_version, $arch)"
# Static (no cgo) so the one binary runs on any Debian or RPM distribution.
# -s -w drop the symbol table and DWARF, as Debian strips packaged binaries;
# panics still print file:line.
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go -C "$repo" build -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$stage/textback" ./cmd/textback

# The repository's unit runs /usr/local/bin/textback (a source install); the
# package's binary is /usr/bin/textback. Rewrite every such path, and the
# unit's "cp systemd/... " install note, which the package does itself.
sed -e 's#/usr/local/bin/textback#/usr/bin/textback#g' \
	-e 's#^\# Install: cp systemd/textback.service /etc/systemd/system/ && systemctl daemon-reload#\# Installed by the textback package; local changes: systemctl edit textback#' \
	"$repo/systemd/textback.service" >"$stage/textback.service"
if grep -q '/usr/local/bin' "$stage/textback.service" || ! grep -q '^ExecStart=/usr/bin/textback ' "$stage/textback.service"; then
	log "the generated unit's ExecStart is not /usr/bin/textback: check systemd/textback.service"; exit 1
fi

cp "$here/textback.yaml" "$stage/textback.yaml"
cp "$repo/cmd/textback/textback.example.yaml" "$stage/textback.example.yaml"
cp "$repo/systemd/modem.conf" "$stage/modem.conf"
cp "$repo/README.md" "$stage/README.md"
# contrib's files that git tracks or would (not ignored editor or build
# leftovers), as they are in the working tree
mkdir "$stage/contrib"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$repo" ls-files -z --cached --others --exclude-standard contrib |
		(cd "$repo" && while IFS= read -r -d '' f; do [ -f "$f" ] && cp --parents -t "$stage" "$f"; done; true)
else
	cp -r "$repo/contrib/." "$stage/contrib/"
fi
cp -r "$here/scripts" "$stage/scripts"
find "$stage/contrib" -type d -exec chmod 0755 {} +
find "$stage/contrib" -type f -exec chmod 0644 {} +

# textback(1), from the binary's own --help texts (textback man).
"$stage/textback" man | gzip -9n >"$stage/textback.1.gz"

# The shipped config must be one `textback run` accepts.
"$stage/textback" check --offline --config "$stage/textback.yaml" >/dev/null 2>"$stage/check.err" || {
	cat "$stage/check.err" >&2; log "the packaged default config fails textback check"; exit 1; }

# --- packages --------------------------------------------------------------
log "building nfpm from .ci/package/tools"
go -C "$here/tools" build -o "$stage/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
rm -f "$out"/textback_*.deb "$out"/textback-*.rpm
for packager in deb rpm; do
	(cd "$stage" && ARCH=$arch PKG_VERSION=$pkg_version ./nfpm package --config "$here/nfpm.yaml" \
		--packager "$packager" --target "$out/") >&2
done
echo "$version" >"$out/VERSION"

for f in "$out"/textback_*.deb "$out"/textback-*.rpm; do
	printf '%s\t%s bytes (%s)\n' "$f" "$(stat -c %s "$f")" "$(du -h --apparent-size "$f" | cut -f1)"
done
printf 'binary\t%s bytes (%s), version %s\n' "$(stat -c %s "$stage/textback")" "$(du -h --apparent-size "$stage/textback" | cut -f1)" "$version"
