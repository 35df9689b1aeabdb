/* SPDX-License-Identifier: MIT */
/*
 * linux/rcupdate.h - kmm compatibility header: RCU and kvfree_rcu() under
 * the kernel's names (6.18 forms).
 *
 * `struct rcu_head` is kmm's struct kmm_rcu_head (a struct-tag macro;
 * KMM_NO_PAGE_ALIAS turns it off).  rcu_read_lock() and friends are the
 * port's RCU (liburcu-bp in the hosted port).
 *
 *   kvfree_rcu(ptr, rhf)        free after a grace period; rhf names the
 *                               struct rcu_head member of *ptr (offset
 *                               below 4096, as the kernel checks at build
 *                               time); never sleeps
 *   kvfree_rcu_mightsleep(ptr)  no rcu_head needed; may wait for a grace
 *                               period when no memory is to be had
 *   kfree_rcu, kfree_rcu_mightsleep   the same (kvfree handles both)
 */
#ifndef KMM_LINUX_RCUPDATE_H
#define KMM_LINUX_RCUPDATE_H

#include <stddef.h>

#include <kmm/kvfree_rcu.h>
#include <kmm/port.h>

#if !defined(KMM_NO_PAGE_ALIAS) && !defined(rcu_head)
#define rcu_head kmm_rcu_head
#endif

#define rcu_read_lock kmm_port_rcu_read_lock
#define rcu_read_unlock kmm_port_rcu_read_unlock
#define synchronize_rcu kmm_port_synchronize_rcu
#define rcu_barrier kmm_port_rcu_barrier
#define call_rcu kmm_port_call_rcu

#define kvfree_call_rcu kmm_kvfree_call_rcu
#define kvfree_rcu_barrier kmm_kvfree_rcu_barrier

#define kvfree_rcu(ptr, rhf)                                                  \
	do {                                                                  \
		__typeof__(ptr) kmm_kvr_p_ = (ptr);                           \
		_Static_assert(offsetof(__typeof__(*kmm_kvr_p_), rhf) < 4096, \
			       "kvfree_rcu: rcu_head too far into the object"); \
		if (kmm_kvr_p_)                                               \
			kmm_kvfree_call_rcu(&kmm_kvr_p_->rhf, (void *)kmm_kvr_p_); \
	} while (0)
#define kfree_rcu(ptr, rhf) kvfree_rcu(ptr, rhf)

#define kvfree_rcu_mightsleep(ptr) kmm_kvfree_call_rcu(NULL, (void *)(ptr))
#define kfree_rcu_mightsleep(ptr) kvfree_rcu_mightsleep(ptr)

#endif /* KMM_LINUX_RCUPDATE_H */
