# The two commands of the README: `make demo` runs the main job, `make test` every test.
# Audio is fetched into $(EARMARK_DATA) (default target/earmark-data), never into git.

SHELL := /bin/bash
export EARMARK_DATA ?= $(CURDIR)/target/earmark-data

.PHONY: demo test fixtures music lint bench

music:
	datasets/fetch-music.sh --packages wesnoth-1.16-music

fixtures:
	datasets/make-fixtures.sh

demo: music
	cargo run --release -p earmark-core --example fingerprint -- \
		$$(tail -n +2 "$(EARMARK_DATA)/music/tracks.csv" | cut -d, -f1 | head -n 8)

test: fixtures
	cargo test --workspace

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	cargo bench --workspace
