#!/usr/bin/env bash
# lingua-py's test data for all 75 of its languages, laid out for bench/langid_bench.py:
# DIR/{sentences,word-pairs,single-words}/<code>.txt, DIR/published-reports/{langdetect,
# lingua-high-accuracy}/<Language>.txt and DIR/published-accuracy-lingua.csv.
# Needs the network (~20 MB, or LINGUA_PY_REPO pointing at a local copy); without it `make bench`
# measures the 14 languages of ../shared/data/langid instead, and says so.
#
#   bench/fetch_lingua_testdata.sh DIR
set -euo pipefail

dir=${1:?usage: $0 DIR}
repo=${LINGUA_PY_REPO:-https://github.com/pemistahl/lingua-py.git}
if [[ -f $dir/published-accuracy-lingua.csv ]]; then
    exit 0  # fetched already
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! git clone --quiet --depth 1 --no-checkout "$repo" "$work/repo" 2>"$work/err"; then
    echo "fetch_lingua_testdata: cannot clone $repo ($(tail -1 "$work/err")):" \
        "the language-ID bench runs on ../shared/data/langid's 14 languages" >&2
    exit 1
fi
git -C "$work/repo" archive HEAD language-testdata accuracy-reports/langdetect \
    accuracy-reports/lingua-high-accuracy accuracy-reports/average-accuracy-values.csv \
    | tar -x -C "$work"

mkdir -p "$work/out/published-reports"
mv "$work"/language-testdata/{sentences,word-pairs,single-words} "$work/out/"
mv "$work"/accuracy-reports/{langdetect,lingua-high-accuracy} "$work/out/published-reports/"
mv "$work/accuracy-reports/average-accuracy-values.csv" "$work/out/published-accuracy-lingua.csv"
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "fetch_lingua_testdata: $(ls "$dir/sentences" | wc -l) languages in $dir" >&2
