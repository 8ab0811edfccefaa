#!/bin/sh
# Sets, in a clamd.conf, the limits the vault relies on (docs/scanning.md):
#   configure-clamd.sh /etc/clamav/clamd.conf 25
# - AlertExceedsMax yes: content skipped because of a limit is reported, never "OK";
# - StreamMaxLength and MaxFileSize: the largest document the vault sends (MiB);
# - MaxScanSize: four times that, for what archives and PDFs unpack to.
# clamd keeps the FIRST occurrence of an option: any existing line is removed first.
set -eu
conf=$1
max_mb=$2
case $max_mb in '' | *[!0-9]*) echo "configure-clamd.sh: size in MiB expected, got '$max_mb'" >&2; exit 2 ;; esac
sed -i -E '/^[[:space:]]*(AlertExceedsMax|StreamMaxLength|MaxFileSize|MaxScanSize)([[:space:]]|$)/d' "$conf"
printf '\n# Set by configure-clamd.sh (MyNetSpace vault)\nAlertExceedsMax yes\nStreamMaxLength %sM\nMaxFileSize %sM\nMaxScanSize %sM\n' \
  "$max_mb" "$max_mb" "$((max_mb * 4))" >> "$conf"
