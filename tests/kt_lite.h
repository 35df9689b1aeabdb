/* SPDX-License-Identifier: MIT */
/*
 * kt_lite.h - a stand-in for the part of Criterion the tests use, for
 * builds where Criterion cannot run: under ThreadSanitizer Criterion aborts
 * at start-up ("Could not initialize inheritable arena", Criterion issue
 * #274), so tests/meson.build compiles the test programs with
 * -DKT_NO_CRITERION and tests/kt_lite.c as their runner when b_sanitize
 * includes "thread".
 *
 * Same model as Criterion: every test runs in a forked child (so each test
 * has a fresh process), its suite's or its own .init/.fini around it, with
 * a .timeout; the runner prints "[FAIL] suite::name" lines and the same
 * "[====] Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N"
 * line, and exits non-zero when anything failed.  --filter 'suite/glob'
 * selects tests, as with Criterion.
 *
 * Assertions accept an optional printf-style message, as Criterion's do.
 */
#ifndef KT_LITE_H
#define KT_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct kt_lite_opts {
	void (*init)(void);
	void (*fini)(void);
	double timeout;		/* seconds; 0: the default */
};

void kt_lite_register(const char *suite, const char *name, void (*fn)(void),
		      const struct kt_lite_opts *suite_opts,
		      const struct kt_lite_opts *test_opts);
/* Report a failed assertion; @fatal ends the test. */
void kt_lite_fail(bool fatal, const char *file, int line, const char *expr,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void kt_lite_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kt_lite_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TestSuite(suite, ...) \
	static const struct kt_lite_opts kt_lite_suite_##suite = { __VA_ARGS__ }

#define Test(suite, name, ...)                                                   \
	static void suite##_##name##_impl(void);                                 \
	static const struct kt_lite_opts suite##_##name##_opts = { __VA_ARGS__ }; \
	__attribute__((constructor)) static void suite##_##name##_reg(void)     \
	{                                                                        \
		kt_lite_register(#suite, #name, suite##_##name##_impl,           \
				 &kt_lite_suite_##suite, &suite##_##name##_opts); \
	}                                                                        \
	static void suite##_##name##_impl(void)

/* The message (if any) follows the condition; " " keeps the format
 * string non-empty when there is none. */
#define KT_LITE_CHECK(fatal, cond, expr, ...)                                  \
	do {                                                                   \
		if (!(cond))                                                   \
			kt_lite_fail((fatal), __FILE__, __LINE__, (expr),      \
				     " " __VA_ARGS__);                         \
	} while (0)

#define cr_assert(c, ...) KT_LITE_CHECK(true, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) KT_LITE_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) KT_LITE_CHECK(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) KT_LITE_CHECK(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) KT_LITE_CHECK(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) KT_LITE_CHECK(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) KT_LITE_CHECK(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) KT_LITE_CHECK(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) KT_LITE_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) KT_LITE_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
	KT_LITE_CHECK(true, strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, size, ...) \
	KT_LITE_CHECK(true, memcmp((a), (b), (size)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_fail(...) KT_LITE_CHECK(true, 0, "cr_assert_fail", __VA_ARGS__)
#define cr_expect(c, ...) KT_LITE_CHECK(false, (c), #c, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) KT_LITE_CHECK(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) KT_LITE_CHECK(false, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_skip_test(...) kt_lite_skip(" " __VA_ARGS__)
#define cr_log_info(...) kt_lite_log(__VA_ARGS__)

#endif /* KT_LITE_H */
