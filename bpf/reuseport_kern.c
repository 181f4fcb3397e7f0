// SPDX-License-Identifier: Apache-2.0
// flowweir inlet: spread the datagrams of one SO_REUSEPORT group round-robin over its workers.
//
// An sk_reuseport program (BPF_PROG_TYPE_SK_REUSEPORT) selects the socket from a
// REUSEPORT_SOCKARRAY map that holds exactly this inlet's sockets. Because the map,
// not the position in the kernel's group, decides, a new inlet started beside a
// running one (same port, SO_REUSEPORT) takes over all traffic the moment its
// program is attached, and the old inlet's sockets can drain and close without
// losing a datagram. (A socket-filter program returning a group index would depend
// on the group's bind order, which shifts as the old sockets close.)
//
// bcc 0.26 cannot declare a reuseport_sockarray map, so the loader creates it with
// the bpf() syscall and passes its file descriptor as SOCKARRAY_FD; bpf_pseudo_fd()
// turns it into a map reference, exactly as bcc does for its own maps.
//
// Built with: -DNUM_SOCKETS=<workers> -DSOCKARRAY_FD=<map fd>
#include <uapi/linux/bpf.h>

// Per-CPU counter: no atomics on the hot path; each CPU walks the sockets in turn,
// which keeps the overall split even.
BPF_PERCPU_ARRAY(rr_counter, u32, 1);

int select_socket(struct sk_reuseport_md *reuse)
{
    u32 zero = 0;
    u32 *counter = rr_counter.lookup(&zero);
    if (!counter)
        return SK_PASS;  // no selection: the kernel's hash decides
    u32 key = *counter % NUM_SOCKETS;
    *counter = key + 1;
    void *sockets = (void *)bpf_pseudo_fd(1, SOCKARRAY_FD);
    // On failure (socket gone from the map) nothing is selected and the kernel's
    // hash picks a socket of the group: the datagram is still delivered.
    bpf_sk_select_reuseport(reuse, sockets, &key, 0);
    return SK_PASS;
}
