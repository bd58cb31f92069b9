#!/bin/sh
# check.sh - checks the generated manual pages (make test-man).
#
#   sh docs/man/check.sh include/uvstreams.h build/man
#
# Fails unless every UVS_API function of the header has a page, lexgrog
# finds a whatis entry in every page (following the ".so" pages), and man
# renders every page that is not a ".so" link with groff's warnings on and
# nothing on stderr (what lintian's groff-message tag looks at).
set -u
header=$1
root=$2
failed=0
for f in $(sed -n 's/^UVS_API .*[ *]\(uvs_[a-z0-9_]*\)(.*/\1/p' "$header"); do
  [ -f "$root/man3/$f.3" ] || { echo "test-man: no page for $f" >&2; failed=1; }
done
pages=$(ls "$root"/man3/*.3 | wc -l)
# lexgrog resolves ".so man3/x.3" against the current directory.
(cd "$root" && lexgrog man3/*.3 >/dev/null) || {
  echo "test-man: lexgrog found no whatis entry (see above)" >&2; failed=1; }
# The ".so" pages render their group page: lexgrog has followed them.
for page in $(grep -L '^\.so ' "$root"/man3/*.3); do
  warnings=$(cd "$root" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 \
    -l -Tutf8 -Z "man3/$(basename "$page")" 2>&1 >/dev/null)
  [ -z "$warnings" ] || { echo "test-man: $page: $warnings" >&2; failed=1; }
done
if [ "$failed" = 0 ]; then
  echo "test-man: $pages pages, every function documented, no warnings"
fi
exit $failed
