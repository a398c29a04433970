# The two commands of the README: `make demo` runs the main job, `make test` runs the tests.
.PHONY: test demo lint smoke kafka-start kafka-stop bench

test:
	bash scripts/test.sh $(ARGS)

demo:
	bash scripts/demo.sh

lint:
	ruff check processor tests bench examples
	mypy processor
	deptry processor examples/kbridge_demo

smoke:
	bash scripts/smoke.sh

kafka-start:
	deploy/kafka/kafka.sh start

kafka-stop:
	deploy/kafka/kafka.sh stop

bench:
	python3 bench/patterns.py && python3 bench/transform.py && python3 bench/router.py
