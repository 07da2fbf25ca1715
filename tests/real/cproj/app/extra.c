long extra_answer(void) { return 42; }
