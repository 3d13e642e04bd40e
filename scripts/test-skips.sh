#!/usr/bin/env bash
# After ctest: says which tests were skipped and why (their own message names
# the missing resource and how to get it), and which passing tests left a part
# out. Reads the JUnit file ctest wrote (--output-junit); prints nothing when
# nothing was skipped. Usage: scripts/test-skips.sh BUILD/ctest-junit.xml
set -u
xml=${1:?usage: test-skips.sh ctest-junit.xml}
[ -f "$xml" ] || exit 0
awk '
  function unxml(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s); return s }
  /<testcase / { match($0, /name="[^"]*"/); name = substr($0, RSTART + 6, RLENGTH - 7); notrun = ($0 ~ /status="notrun"/); out = 0; why = ""; next }
  /<system-out>/ { out = 1; sub(/.*<system-out>/, "") }
  out {
    line = $0; done = sub(/<\/system-out>.*/, "", line); line = unxml(line)
    # a skipped test: its line that says "skip", else its first line
    if (notrun && line != "" && (why == "" || (tolower(line) ~ /skip/ && tolower(why) !~ /skip/))) why = line
    else if (!notrun && tolower(line) ~ /skip/) part[++np] = name ": " line
    if (done) out = 0
  }
  /<\/testcase>/ { if (notrun) skip[++ns] = name ": " (why != "" ? why : "(it printed no reason)"); notrun = 0 }
  END {
    if (ns) { printf "\n%d test%s skipped:\n", ns, (ns > 1 ? "s" : ""); for (i = 1; i <= ns; i++) print "  " skip[i] }
    if (np) { printf "\nParts of passing tests left out:\n"; for (i = 1; i <= np; i++) print "  " part[i] }
  }' "$xml"
