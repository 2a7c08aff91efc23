# Shortcuts; the README gives the same commands without make.
.PHONY: install repro test bench
install:
	bash install.sh
repro: install
	.venv/bin/dvc repro
test: install
	.venv/bin/python -m pytest
bench: install
	.venv/bin/python benchmarks/train_speed.py --levers
