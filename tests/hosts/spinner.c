/*
 * A busy loop: one CPU's worth of load for the loaded-machine tests
 * (tests/exec_record.rs), like one job of a `make -j` build.  It never
 * ends by itself: the tests start it under `timeout` and kill it.
 */
int main(void)
{
	volatile unsigned long spins = 0;
	for (;;)
		spins++;
}
