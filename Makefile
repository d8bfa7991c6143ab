# The two commands of the README: `make demo` runs the main job, `make test` every test.
# Audio is fetched into $(EARMARK_DATA) (default target/earmark-data), never into git.

SHELL := /bin/bash
export EARMARK_DATA ?= $(CURDIR)/target/earmark-data

.PHONY: demo test deps fixtures music evalset lint bench eval load

deps:
	datasets/install-deps.sh

music: deps
	datasets/fetch-music.sh --packages wesnoth-1.16-music

fixtures: deps
	datasets/make-fixtures.sh

EVAL := $(EARMARK_DATA)/eval
DEMO_DB := $(EARMARK_DATA)/demo-index

# The quick evaluation set: the demo's queries and the test suite's accuracy floor.
evalset: music
	datasets/build-eval.py --quick --packages wesnoth-1.16-music

demo: evalset
	# Built by the same cargo invocation as `make test`, so RocksDB's C++ is compiled
	# once for both (another package selection would rebuild it).
	cargo test --workspace --no-run
	target/debug/earmark ingest --db "$(DEMO_DB)" --manifest "$(EVAL)/catalog.csv"
	target/debug/earmark stats --db "$(DEMO_DB)"
	tail -n +2 "$(EVAL)/truth.csv" | cut -d, -f1 | xargs target/debug/earmark query \
		--db "$(DEMO_DB)" --json > "$(EVAL)/answers.jsonl" || true
	datasets/score.py "$(EVAL)/truth.csv" "$(EVAL)/answers.jsonl"

test: fixtures evalset
	cargo test --workspace

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: fixtures
	cargo bench -p earmark-core

# The service under load on loopback (wrk from Debian), against the demo's index.
load: demo
	datasets/install-deps.sh wrk
	benches/load/run.sh

# Every condition on the wesnoth package, Earmark and the peer systems side by side
# (tables and plots into docs/eval/eval-all). Needs a release build.
eval: music
	datasets/build-eval.py --quick --packages wesnoth-1.16-music --conditions all \
		--lengths 1,2,3,5,10,20,full --per-track 1 --noise-per-track 1 \
		--out "$(EARMARK_DATA)/eval-all"
	cargo build --release -p earmark
	datasets/run-eval.py --eval-dir "$(EARMARK_DATA)/eval-all"
