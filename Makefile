# Entry points of the book. Each target creates the virtual environment when it is missing.
#   make serve   build the book (executing its notebooks) and serve it at http://127.0.0.1:8000
#   make pdf     build, then print the whole book to site/book.pdf (needs Chromium)
#   make bench   re-measure book_code against PyTorch for the Performance appendix
#   make test    run the whole test suite: unit, property and doctests, chapters, site build, lint
# Readers without make can run the same commands by hand; see README.md.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve build pdf bench test lint clean

install: $(STAMP)

# torch is installed first and pinned: an unpinned torch pulls a multi-gigabyte CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The whole book as one PDF (cover, contents, chapters), printed by headless Chromium.
pdf: build
	$(BIN)/python -m tools.print_book site site/book.pdf

# Re-measure the book's code against PyTorch's (a few minutes); the Performance appendix reads it.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --output docs/appendix/performance_results.json

test: $(STAMP)
	$(BIN)/ruff check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf site .pytest_cache .hypothesis .cache
