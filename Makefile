# The two commands of the README: `make demo` runs the main job, `make test` every test.
# Audio is fetched into $(EARMARK_DATA) (default target/earmark-data), never into git.

SHELL := /bin/bash
export EARMARK_DATA ?= $(CURDIR)/target/earmark-data

.PHONY: demo test deps fixtures music lint bench

deps:
	datasets/install-deps.sh

music: deps
	datasets/fetch-music.sh --packages wesnoth-1.16-music

fixtures: deps
	datasets/make-fixtures.sh

EVAL := $(EARMARK_DATA)/eval
DEMO_DB := $(EARMARK_DATA)/demo-index

demo: music
	datasets/build-eval.py --quick --packages wesnoth-1.16-music
	# Built by the same cargo invocation as `make test`, so RocksDB's C++ is compiled
	# once for both (another package selection would rebuild it).
	cargo test --workspace --no-run
	target/debug/earmark ingest --db "$(DEMO_DB)" --manifest "$(EVAL)/catalog.csv"
	target/debug/earmark stats --db "$(DEMO_DB)"
	tail -n +2 "$(EVAL)/truth.csv" | cut -d, -f1 | xargs target/debug/earmark query \
		--db "$(DEMO_DB)" --json > "$(EVAL)/answers.jsonl" || true
	datasets/score.py "$(EVAL)/truth.csv" "$(EVAL)/answers.jsonl"

test: fixtures
	cargo test --workspace

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: fixtures
	cargo bench -p earmark-core
