// SPDX-License-Identifier: MIT
/*
 * lib.c - small freestanding helpers: a printf engine, an append-only text
 * buffer (the core's seq_file), logging, strings and numbers.
 *
 * The core is built with -ffreestanding, so nothing here may call the C
 * library; the one exception is that the compiler may turn
 * __builtin_memset()/__builtin_memcpy() into calls to memset()/memcpy(),
 * which every port provides (the hosted port through libc).
 *
 * Formatting engine (fmt_*): one pass over the format; every produced
 * character goes through fmt_put(), which stores it while there is room for
 * it and the final NUL, and always counts it.  So the engine knows the full
 * length (vsnprintf semantics) and kmm_vscnprintf() reports what was stored
 * (vscnprintf semantics).
 *
 * Supported: flags '-' '0' ' ' '+' '#', width and precision (also '*', a
 * negative '*' width meaning '-', a negative '*' precision meaning none),
 * length modifiers hh h l ll z t j (L and q are accepted as ll), conversions
 * d i u x X o c s p %.  %p prints the pointer as "0x" and lowercase hex
 * ("0x0" for NULL), honouring width and '-'.  %s of NULL prints "(null)".
 * An unknown conversion is copied literally ("%" and the character).  %n is
 * deliberately not supported (printed literally).
 *
 * Logging: kmm_printk() formats "kmm: <msg>" into a 512-byte stack buffer
 * (longer messages are cut), strips one trailing newline, and hands the line
 * to the hook installed with kmm_set_log_hook() or, without one, to
 * kmm_port_log().  The hook and its argument are published together under a
 * tiny sequence lock (writers serialised by a spin flag, readers retry), so a
 * concurrent kmm_set_log_hook() never pairs one hook with the other's
 * argument.  Setting the hook is rare; logging is lock-free.  A hook that is
 * being replaced may still receive lines that started before the switch.
 *
 * Locks: none besides the log hook's writer flag.
 */
#include <stdarg.h>
#include <stdatomic.h>

#include <kmm/lib.h>
#include <kmm/port.h>

/* ---- formatting engine ------------------------------------------------- */

struct fmt_out {
	char *buf;
	size_t size;	/* capacity including the NUL */
	size_t pos;	/* characters produced so far (may exceed size) */
};

static inline void fmt_put(struct fmt_out *o, char c)
{
	if (o->size && o->pos < o->size - 1)
		o->buf[o->pos] = c;
	o->pos++;
}

static void fmt_pad(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		fmt_put(o, c);
}

#define FL_LEFT 0x01
#define FL_ZERO 0x02
#define FL_SPACE 0x04
#define FL_PLUS 0x08
#define FL_ALT 0x10
#define FL_UPPER 0x20
#define FL_PTR 0x40	/* %p: "0x" prefix always, even for 0 */

/*
 * Emit one integer.  @neg: the value is negative (@v holds its magnitude).
 * @prec < 0: no precision given.
 */
static void fmt_number(struct fmt_out *o, uint64_t v, bool neg, unsigned base,
		       int flags, int width, int prec, bool is_signed)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";
	const char *digits = (flags & FL_UPPER) ? upper : lower;
	char tmp[24];	/* 2^64 in octal is 22 digits */
	int nd = 0;
	char sign = 0;
	const char *prefix = "";
	int plen = 0;
	int zeros, total;

	if (v == 0 && prec == 0) {
		nd = 0;		/* "%.0d" of 0 prints no digits */
	} else {
		do {
			tmp[nd++] = digits[v % base];
			v /= base;
		} while (v);
	}

	if (is_signed) {
		if (neg)
			sign = '-';
		else if (flags & FL_PLUS)
			sign = '+';
		else if (flags & FL_SPACE)
			sign = ' ';
	}

	if (flags & FL_PTR) {
		prefix = "0x";
		plen = 2;
	} else if (flags & FL_ALT) {
		if (base == 16 && nd > 0 && !(nd == 1 && tmp[0] == '0')) {
			prefix = (flags & FL_UPPER) ? "0X" : "0x";
			plen = 2;
		} else if (base == 8) {
			/* '#' with 'o' makes the first digit a 0. */
			if (!(nd > 0 && tmp[nd - 1] == '0') && prec <= nd) {
				prefix = "0";
				plen = 1;
			}
		}
	}

	zeros = prec > nd ? prec - nd : 0;
	total = (sign ? 1 : 0) + plen + zeros + nd;

	/* '0' pads with zeros only without '-' and without a precision. */
	if ((flags & FL_ZERO) && !(flags & FL_LEFT) && prec < 0 && width > total) {
		zeros += width - total;
		total = width;
	}

	if (!(flags & FL_LEFT))
		fmt_pad(o, ' ', width - total);
	if (sign)
		fmt_put(o, sign);
	while (*prefix)
		fmt_put(o, *prefix++);
	fmt_pad(o, '0', zeros);
	while (nd > 0)
		fmt_put(o, tmp[--nd]);
	if (flags & FL_LEFT)
		fmt_pad(o, ' ', width - total);
}

static void fmt_string(struct fmt_out *o, const char *s, int flags, int width,
		       int prec)
{
	int len = 0;

	if (!s)
		s = "(null)";
	while ((prec < 0 || len < prec) && s[len])
		len++;
	if (!(flags & FL_LEFT))
		fmt_pad(o, ' ', width - len);
	for (int i = 0; i < len; i++)
		fmt_put(o, s[i]);
	if (flags & FL_LEFT)
		fmt_pad(o, ' ', width - len);
}

enum fmt_len { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

/* The engine: returns the full length the output needs (vsnprintf). */
static size_t fmt_engine(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = { buf, size, 0 };
	const char *p = fmt;

	while (*p) {
		const char *start;
		int flags = 0, width = 0, prec = -1;
		enum fmt_len len = LEN_NONE;
		uint64_t uv;
		int64_t sv;
		unsigned base;
		bool neg;

		if (*p != '%') {
			fmt_put(&o, *p++);
			continue;
		}
		start = p++;

		/* flags */
		for (;; p++) {
			if (*p == '-')
				flags |= FL_LEFT;
			else if (*p == '0')
				flags |= FL_ZERO;
			else if (*p == ' ')
				flags |= FL_SPACE;
			else if (*p == '+')
				flags |= FL_PLUS;
			else if (*p == '#')
				flags |= FL_ALT;
			else
				break;
		}

		/* width */
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				flags |= FL_LEFT;
				width = width == (-__INT_MAX__ - 1) ? __INT_MAX__ : -width;
			}
			p++;
		} else {
			while (*p >= '0' && *p <= '9') {
				if (width < __INT_MAX__ / 10)
					width = width * 10 + (*p - '0');
				p++;
			}
		}

		/* precision */
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				if (prec < 0)
					prec = -1;
				p++;
			} else {
				while (*p >= '0' && *p <= '9') {
					if (prec < __INT_MAX__ / 10)
						prec = prec * 10 + (*p - '0');
					p++;
				}
			}
		}

		/* length */
		switch (*p) {
		case 'h':
			p++;
			if (*p == 'h') {
				p++;
				len = LEN_HH;
			} else {
				len = LEN_H;
			}
			break;
		case 'l':
			p++;
			if (*p == 'l') {
				p++;
				len = LEN_LL;
			} else {
				len = LEN_L;
			}
			break;
		case 'L':
		case 'q':
			p++;
			len = LEN_LL;
			break;
		case 'z':
			p++;
			len = LEN_Z;
			break;
		case 't':
			p++;
			len = LEN_T;
			break;
		case 'j':
			p++;
			len = LEN_J;
			break;
		default:
			break;
		}

		switch (*p) {
		case 'd':
		case 'i':
			switch (len) {
			case LEN_HH:
				sv = (signed char)va_arg(ap, int);
				break;
			case LEN_H:
				sv = (short)va_arg(ap, int);
				break;
			case LEN_L:
				sv = va_arg(ap, long);
				break;
			case LEN_LL:
				sv = va_arg(ap, long long);
				break;
			case LEN_Z:
				/* the signed type of size_t */
				sv = (int64_t)va_arg(ap, ptrdiff_t);
				break;
			case LEN_T:
				sv = va_arg(ap, ptrdiff_t);
				break;
			case LEN_J:
				sv = va_arg(ap, intmax_t);
				break;
			default:
				sv = va_arg(ap, int);
				break;
			}
			neg = sv < 0;
			uv = neg ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
			fmt_number(&o, uv, neg, 10, flags, width, prec, true);
			p++;
			continue;
		case 'u':
			base = 10;
			break;
		case 'x':
			base = 16;
			break;
		case 'X':
			base = 16;
			flags |= FL_UPPER;
			break;
		case 'o':
			base = 8;
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (!(flags & FL_LEFT))
				fmt_pad(&o, ' ', width - 1);
			fmt_put(&o, c);
			if (flags & FL_LEFT)
				fmt_pad(&o, ' ', width - 1);
			p++;
			continue;
		}
		case 's':
			fmt_string(&o, va_arg(ap, const char *), flags, width, prec);
			p++;
			continue;
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);

			/* Always "0x" + hex, even for NULL ("0x0"). */
			fmt_number(&o, (uint64_t)v, false, 16,
				   (flags & (FL_LEFT | FL_ZERO)) | FL_PTR,
				   width, prec, false);
			p++;
			continue;
		}
		case '%':
			fmt_put(&o, '%');
			p++;
			continue;
		default:
			/* Unknown or truncated: copy the directive literally. */
			while (start < p)
				fmt_put(&o, *start++);
			if (*p)
				fmt_put(&o, *p++);
			continue;
		}

		/* unsigned conversions */
		switch (len) {
		case LEN_HH:
			uv = (unsigned char)va_arg(ap, unsigned int);
			break;
		case LEN_H:
			uv = (unsigned short)va_arg(ap, unsigned int);
			break;
		case LEN_L:
			uv = va_arg(ap, unsigned long);
			break;
		case LEN_LL:
			uv = va_arg(ap, unsigned long long);
			break;
		case LEN_Z:
			uv = va_arg(ap, size_t);
			break;
		case LEN_T:
			uv = (uint64_t)va_arg(ap, ptrdiff_t);
			break;
		case LEN_J:
			uv = va_arg(ap, uintmax_t);
			break;
		default:
			uv = va_arg(ap, unsigned int);
			break;
		}
		fmt_number(&o, uv, false, base, flags, width, prec, false);
		p++;
	}

	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return o.pos;
}

int kmm_vscnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t need = fmt_engine(buf, size, fmt, ap);

	if (size == 0)
		return 0;
	if (need >= size)
		need = size - 1;
	return need > __INT_MAX__ ? __INT_MAX__ : (int)need;
}

int kmm_scnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kmm_vscnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- kmm_seq ----------------------------------------------------------- */

/*
 * Output that does not fit is cut at the buffer's end (the buffer stays
 * NUL-terminated) and @overflow is set; later output is dropped.  Unlike the
 * kernel's seq_file nothing is retried: the caller sizes the buffer.
 */
void kmm_seq_init(struct kmm_seq *s, char *buf, size_t size)
{
	s->buf = buf;
	s->size = size;
	s->len = 0;
	s->need = 0;
	s->overflow = false;
	if (size)
		buf[0] = '\0';
}

void kmm_seq_printf(struct kmm_seq *s, const char *fmt, ...)
{
	va_list ap;
	size_t room, need;

	if (s->overflow || s->size == 0) {
		s->overflow = true;
		va_start(ap, fmt);
		s->need += fmt_engine(NULL, 0, fmt, ap);
		va_end(ap);
		return;
	}
	room = s->size - s->len;	/* >= 1: there is always the NUL */
	va_start(ap, fmt);
	need = fmt_engine(s->buf + s->len, room, fmt, ap);
	va_end(ap);
	s->need += need;
	if (need >= room) {
		s->len = s->size - 1;
		s->overflow = true;
	} else {
		s->len += need;
	}
}

void kmm_seq_puts(struct kmm_seq *s, const char *str)
{
	s->need += kmm_strlen(str);
	if (s->overflow || s->size == 0) {
		s->overflow = true;
		return;
	}
	while (*str) {
		if (s->len + 1 >= s->size) {
			s->overflow = true;
			break;
		}
		s->buf[s->len++] = *str++;
	}
	s->buf[s->len] = '\0';
}

/* ---- logging ----------------------------------------------------------- */

#define KMM_PRINTK_BUF 512

static atomic_flag log_hook_writer = ATOMIC_FLAG_INIT;
static atomic_uint log_hook_seq;			/* odd while writing */
static _Atomic(kmm_log_hook_t) log_hook_fn;
static _Atomic(void *) log_hook_arg;

void kmm_set_log_hook(kmm_log_hook_t hook, void *arg)
{
	/*
	 * Every access below is sequentially consistent, which makes the
	 * sequence lock correct without stand-alone fences (which TSan cannot
	 * model): a reader that sees the same even count before and after
	 * read both fields outside any writer's critical section.
	 */
	while (atomic_flag_test_and_set(&log_hook_writer))
		;
	atomic_fetch_add(&log_hook_seq, 1);
	atomic_store(&log_hook_fn, hook);
	atomic_store(&log_hook_arg, arg);
	atomic_fetch_add(&log_hook_seq, 1);
	atomic_flag_clear(&log_hook_writer);
}

static kmm_log_hook_t log_hook_get(void **argp)
{
	kmm_log_hook_t fn;
	void *arg;
	unsigned s1, s2;

	do {
		s1 = atomic_load(&log_hook_seq);
		fn = atomic_load(&log_hook_fn);
		arg = atomic_load(&log_hook_arg);
		s2 = atomic_load(&log_hook_seq);
	} while ((s1 & 1) || s1 != s2);
	*argp = arg;
	return fn;
}

void kmm_printk(int level, const char *fmt, ...)
{
	char buf[KMM_PRINTK_BUF];
	static const char prefix[] = "kmm: ";
	size_t plen = sizeof(prefix) - 1;
	kmm_log_hook_t hook;
	void *arg;
	va_list ap;
	int n;

	__builtin_memcpy(buf, prefix, plen);
	va_start(ap, fmt);
	n = kmm_vscnprintf(buf + plen, sizeof(buf) - plen, fmt, ap);
	va_end(ap);
	n += (int)plen;
	if (n > (int)plen && buf[n - 1] == '\n')
		buf[--n] = '\0';

	hook = log_hook_get(&arg);
	if (hook)
		hook(level, buf, arg);
	else
		kmm_port_log(level, buf);
}

/* ---- strings ----------------------------------------------------------- */

size_t kmm_strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

int kmm_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!ca)
			break;
	}
	return 0;
}

void *kmm_memset(void *d, int c, size_t n)
{
	return __builtin_memset(d, c, n);
}

void *kmm_memcpy(void *d, const void *s, size_t n)
{
	return __builtin_memcpy(d, s, n);
}

/* ---- numbers ----------------------------------------------------------- */

int kmm_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (!s || len == 0)
		return -KMM_EINVAL;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < len; i++) {
			char c = s[i];
			unsigned d;

			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return -KMM_EINVAL;
			if (v >> 60)
				return -KMM_EINVAL;	/* would overflow */
			v = (v << 4) | d;
		}
	} else {
		for (i = 0; i < len; i++) {
			char c = s[i];
			unsigned d;

			if (c < '0' || c > '9')
				return -KMM_EINVAL;
			d = (unsigned)(c - '0');
			if (v > (UINT64_MAX - d) / 10)
				return -KMM_EINVAL;
			v = v * 10 + d;
		}
	}
	*out = v;
	return 0;
}

/*
 * Bit-by-bit square root: the result is built from the top bit down, the
 * remainder kept in @x; exact floor(sqrt(x)) for every 64-bit value.
 */
uint64_t kmm_isqrt(uint64_t x)
{
	uint64_t res = 0;
	uint64_t bit;

	if (x < 2)
		return x;
	/* the highest power of four <= x */
	bit = 1ULL << (kmm_ilog2(x) & ~1u);
	while (bit) {
		if (x >= res + bit) {
			x -= res + bit;
			res = (res >> 1) + bit;
		} else {
			res >>= 1;
		}
		bit >>= 2;
	}
	return res;
}

/* Sift a[root] down the max-heap a[0..n). */
static void sift_down(unsigned long *a, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		unsigned long t;

		if (child >= n)
			return;
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

void kmm_sort_ulong(unsigned long *a, size_t n)
{
	size_t i;

	if (n < 2)
		return;
	for (i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (i = n - 1; i > 0; i--) {
		unsigned long t = a[0];

		a[0] = a[i];
		a[i] = t;
		sift_down(a, 0, i);
	}
}
