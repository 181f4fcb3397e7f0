/* The inlet's receive batch in C: one recvmmsg(2) call, envelope-v2 messages per exporter.
 *
 * The hot path of the inlet, and the one part of flowweir not in Python: the same work in
 * Python (NumPy field views, a memoryview slice a datagram) cost about 1.2 us a datagram,
 * as much as the kernel's own receive work (bench/README.md, "## inlet"). What it does is
 * what collector/inlet/receiver.py describes; the layout is collector/kafka/envelope.py's:
 *
 * - each datagram lands in its own slot of one buffer, 12 bytes after the slot start, so
 *   that its v2 datagram header (receive time, length, source port) is written in front of
 *   it in place and a message is one copy per datagram;
 * - the receive time is the kernel's (SO_TIMESTAMPNS_NEW control message), or the clock
 *   for a datagram that came without one (then kernel_timestamps turns false);
 * - a datagram the kernel truncated (longer than max_size) is counted, not sent;
 * - the datagrams are grouped by source address in order of first arrival, each group in
 *   arrival order, at most max_body bytes of datagram headers and datagrams a message.
 *
 * Receiver(fd, max_size, batch, header, max_body, compress) where header is the message
 * header's first 6 bytes (version, kind, flags, timestamp source, decapsulation, reserved)
 * and compress None or a callable that compresses the datagrams of a message (bytes ->
 * bytes). receive(wait) -> None (nothing to read: timeout, EAGAIN, EINTR) or
 * (messages, datagrams, bytes_received, too_large, kernel_drops): messages a list of
 * (exporter address (16 bytes), message, datagrams in it); kernel_drops the socket's
 * SO_RXQ_OVFL counter, -1 when no datagram reported it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef SO_TIMESTAMPNS_OLD
#define SO_TIMESTAMPNS_OLD 35
#endif
#ifndef SO_TIMESTAMPNS_NEW
#define SO_TIMESTAMPNS_NEW 64
#endif
#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

#define DATAGRAM_HEADER_SIZE 12
#define MESSAGE_HEADER_SIZE 24
#define CONTROL_SIZE 64 /* CMSG_SPACE(16) timestamp + CMSG_SPACE(4) drop counter = 56 */

typedef struct {
    PyObject_HEAD
    int fd;
    unsigned int batch;
    unsigned int max_size;
    size_t slot;     /* DATAGRAM_HEADER_SIZE + max_size + 1: a datagram of max_size is whole */
    size_t max_body; /* datagram headers and datagrams of one message */
    unsigned char header[6];
    PyObject *compress; /* NULL: the datagrams as they are */
    int kernel_timestamps;
    unsigned int last; /* entries the previous call used (their lengths to reset) */
    unsigned char *data;
    struct mmsghdr *msgs;
    struct iovec *iov;
    unsigned char *control;
    struct sockaddr_in6 *names;
    /* per datagram of the current call */
    unsigned char (*keys)[16];
    int *group;        /* index of its exporter, -1: too large */
    unsigned int *len; /* its length */
    int *first;        /* per exporter: its first datagram, in order of first arrival */
} Receiver;

static void Receiver_dealloc(Receiver *self) {
    Py_XDECREF(self->compress);
    PyMem_RawFree(self->data);
    PyMem_RawFree(self->msgs);
    PyMem_RawFree(self->iov);
    PyMem_RawFree(self->control);
    PyMem_RawFree(self->names);
    PyMem_RawFree(self->keys);
    PyMem_RawFree(self->group);
    PyMem_RawFree(self->len);
    PyMem_RawFree(self->first);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Receiver_init(Receiver *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fd", "max_size", "batch", "header", "max_body", "compress", NULL};
    int fd;
    unsigned int max_size, batch;
    Py_buffer header;
    Py_ssize_t max_body;
    PyObject *compress;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iIIy*nO", kwlist, &fd, &max_size, &batch,
                                     &header, &max_body, &compress))
        return -1;
    if (header.len != 6) {
        PyBuffer_Release(&header);
        PyErr_SetString(PyExc_ValueError, "header: the message header's first 6 bytes");
        return -1;
    }
    memcpy(self->header, header.buf, 6);
    PyBuffer_Release(&header);
    if (max_size < 1 || max_size > 65535 || batch < 1 || batch > 1024 ||
        max_body < (Py_ssize_t)(DATAGRAM_HEADER_SIZE + max_size)) {
        PyErr_SetString(PyExc_ValueError,
                        "max_size 1..65535, batch 1..1024, max_body >= 12 + max_size");
        return -1;
    }
    if (self->data != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Receiver initialised twice");
        return -1;
    }
    self->fd = fd;
    self->batch = batch;
    self->max_size = max_size;
    self->slot = DATAGRAM_HEADER_SIZE + (size_t)max_size + 1;
    self->max_body = (size_t)max_body;
    self->kernel_timestamps = 1;
    self->last = batch;
    if (compress != Py_None) {
        Py_INCREF(compress);
        self->compress = compress;
    }
    self->data = PyMem_RawCalloc(batch, self->slot);
    self->msgs = PyMem_RawCalloc(batch, sizeof(struct mmsghdr));
    self->iov = PyMem_RawCalloc(batch, sizeof(struct iovec));
    self->control = PyMem_RawCalloc(batch, CONTROL_SIZE);
    self->names = PyMem_RawCalloc(batch, sizeof(struct sockaddr_in6));
    self->keys = PyMem_RawCalloc(batch, 16);
    self->group = PyMem_RawCalloc(batch, sizeof(int));
    self->len = PyMem_RawCalloc(batch, sizeof(unsigned int));
    self->first = PyMem_RawCalloc(batch, sizeof(int));
    if (!self->data || !self->msgs || !self->iov || !self->control || !self->names ||
        !self->keys || !self->group || !self->len || !self->first) {
        PyErr_NoMemory();
        return -1;
    }
    for (unsigned int i = 0; i < batch; i++) {
        self->iov[i].iov_base = self->data + i * self->slot + DATAGRAM_HEADER_SIZE;
        self->iov[i].iov_len = self->slot - DATAGRAM_HEADER_SIZE;
        self->msgs[i].msg_hdr.msg_name = &self->names[i];
        self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
        self->msgs[i].msg_hdr.msg_iovlen = 1;
        self->msgs[i].msg_hdr.msg_control = self->control + i * CONTROL_SIZE;
    }
    return 0;
}

/* The receive time (ns) and drop counter of datagram i from its control messages; 0 when
 * it came without a kernel timestamp. */
static int64_t control_of(Receiver *self, unsigned int i, int64_t *drops) {
    struct msghdr *hdr = &self->msgs[i].msg_hdr;
    int64_t ts = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(hdr); c != NULL; c = CMSG_NXTHDR(hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if ((c->cmsg_type == SO_TIMESTAMPNS_NEW || c->cmsg_type == SO_TIMESTAMPNS_OLD) &&
            c->cmsg_len >= CMSG_LEN(16)) {
            int64_t t[2]; /* __kernel_timespec; the old timespec has the same layout on LP64 */
            memcpy(t, CMSG_DATA(c), 16);
            ts = t[0] * 1000000000 + t[1];
        } else if (c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(4)) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(c), 4);
            if ((int64_t)v > *drops)
                *drops = v;
        }
    }
    return ts;
}

/* Build the message of the datagrams of group g from datagram `from` on, at most max_body
 * bytes of them; *next: the group's next datagram after the message (batch: none). */
static PyObject *message_of(Receiver *self, unsigned int n, int g, unsigned int from,
                            unsigned int *next, unsigned int *count) {
    size_t size = 0;
    unsigned int i, k = 0;
    for (i = from; i < n; i++) {
        if (self->group[i] != g)
            continue;
        size_t add = DATAGRAM_HEADER_SIZE + self->len[i];
        if (k > 0 && size + add > self->max_body)
            break;
        size += add;
        k++;
    }
    *next = i;
    *count = k;
    size_t header = self->compress ? 0 : MESSAGE_HEADER_SIZE;
    PyObject *body = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(header + size));
    if (body == NULL)
        return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(body) + header;
    for (unsigned int j = from; j < *next; j++) {
        if (self->group[j] != g)
            continue;
        size_t add = DATAGRAM_HEADER_SIZE + self->len[j];
        memcpy(out, self->data + j * self->slot, add);
        out += add;
    }
    unsigned char head[MESSAGE_HEADER_SIZE];
    memcpy(head, self->header, 6);
    head[6] = (unsigned char)(k >> 8);
    head[7] = (unsigned char)k;
    memcpy(head + 8, self->keys[self->first[g]], 16);
    if (!self->compress) {
        memcpy(PyBytes_AS_STRING(body), head, MESSAGE_HEADER_SIZE);
        return body;
    }
    PyObject *packed = PyObject_CallOneArg(self->compress, body);
    Py_DECREF(body);
    if (packed == NULL)
        return NULL;
    if (!PyBytes_Check(packed)) {
        Py_DECREF(packed);
        PyErr_SetString(PyExc_TypeError, "compress must return bytes");
        return NULL;
    }
    Py_ssize_t plen = PyBytes_GET_SIZE(packed);
    PyObject *msg = PyBytes_FromStringAndSize(NULL, MESSAGE_HEADER_SIZE + plen);
    if (msg != NULL) {
        memcpy(PyBytes_AS_STRING(msg), head, MESSAGE_HEADER_SIZE);
        memcpy(PyBytes_AS_STRING(msg) + MESSAGE_HEADER_SIZE, PyBytes_AS_STRING(packed),
               (size_t)plen);
    }
    Py_DECREF(packed);
    return msg;
}

static PyObject *Receiver_receive(Receiver *self, PyObject *arg) {
    int wait = PyObject_IsTrue(arg);
    if (wait < 0)
        return NULL;
    if (self->data == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Receiver not initialised");
        return NULL;
    }
    /* What the kernel overwrote in the entries the previous call used. */
    for (unsigned int i = 0; i < self->last; i++) {
        self->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
        self->msgs[i].msg_hdr.msg_controllen = CONTROL_SIZE;
        self->msgs[i].msg_hdr.msg_flags = 0;
        self->msgs[i].msg_len = 0;
    }
    int n, err = 0;
    Py_BEGIN_ALLOW_THREADS
    n = recvmmsg(self->fd, self->msgs, self->batch, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
    if (n < 0)
        err = errno;
    Py_END_ALLOW_THREADS
    if (n <= 0) {
        self->last = 0;
        if (n < 0 && err == EINTR) {
            if (PyErr_CheckSignals() < 0) /* a signal handler raised */
                return NULL;
            Py_RETURN_NONE;
        }
        if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        Py_RETURN_NONE;
    }
    self->last = (unsigned int)n;
    int64_t drops = -1, now = 0;
    unsigned long long received = 0;
    unsigned int too_large = 0, groups = 0;
    for (unsigned int i = 0; i < (unsigned int)n; i++) {
        struct mmsghdr *m = &self->msgs[i];
        unsigned int length = m->msg_len;
        received += length;
        int64_t ts = control_of(self, i, &drops);
        if ((m->msg_hdr.msg_flags & MSG_TRUNC) || length > self->max_size) {
            too_large++;
            self->group[i] = -1;
            continue;
        }
        if (ts == 0) { /* no kernel timestamp: the clock */
            if (now == 0) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                now = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
            }
            ts = now;
            self->kernel_timestamps = 0;
        }
        unsigned char *key = self->keys[i];
        unsigned char *head = self->data + i * self->slot;
        const struct sockaddr_in6 *name = &self->names[i];
        if (name->sin6_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)name;
            memset(key, 0, 10);
            key[10] = key[11] = 0xff;
            memcpy(key + 12, &v4->sin_addr, 4);
            memcpy(head + 10, &v4->sin_port, 2);
        } else {
            memcpy(key, &name->sin6_addr, 16);
            memcpy(head + 10, &name->sin6_port, 2);
        }
        uint64_t t = (uint64_t)ts;
        for (int b = 7; b >= 0; b--) {
            head[b] = (unsigned char)t;
            t >>= 8;
        }
        head[8] = (unsigned char)(length >> 8);
        head[9] = (unsigned char)length;
        self->len[i] = length;
        /* Its exporter: the previous datagram's (the usual case), else a known one, else new. */
        int g = -1;
        if (i > 0 && self->group[i - 1] >= 0 && memcmp(self->keys[i - 1], key, 16) == 0)
            g = self->group[i - 1];
        else
            for (unsigned int k = 0; k < groups; k++)
                if (memcmp(self->keys[self->first[k]], key, 16) == 0) {
                    g = (int)k;
                    break;
                }
        if (g < 0) {
            g = (int)groups++;
            self->first[g] = (int)i;
        }
        self->group[i] = g;
    }
    PyObject *messages = PyList_New(0);
    if (messages == NULL)
        return NULL;
    for (unsigned int g = 0; g < groups; g++) {
        unsigned int from = (unsigned int)self->first[g], next, count;
        while (from < (unsigned int)n) {
            PyObject *msg = message_of(self, (unsigned int)n, (int)g, from, &next, &count);
            if (msg == NULL)
                goto fail;
            PyObject *item = Py_BuildValue("(y#NI)", (const char *)self->keys[self->first[g]],
                                           (Py_ssize_t)16, msg, count);
            if (item == NULL || PyList_Append(messages, item) < 0) {
                Py_XDECREF(item);
                goto fail;
            }
            Py_DECREF(item);
            from = next;
        }
    }
    return Py_BuildValue("(NIKIL)", messages, (unsigned int)n - too_large, received, too_large,
                         (long long)drops);
fail:
    Py_DECREF(messages);
    return NULL;
}

static PyObject *Receiver_get_kernel_timestamps(Receiver *self, void *closure) {
    return PyBool_FromLong(self->kernel_timestamps);
}

static PyMethodDef Receiver_methods[] = {
    {"receive", (PyCFunction)Receiver_receive, METH_O,
     "receive(wait) -> None or (messages, datagrams, bytes_received, too_large, kernel_drops)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Receiver_getset[] = {
    {"kernel_timestamps", (getter)Receiver_get_kernel_timestamps, NULL,
     "false once a datagram came without a kernel receive timestamp", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "collector.inlet._batch.Receiver",
    .tp_doc = "One UDP socket's receive batches as envelope-v2 messages",
    .tp_basicsize = sizeof(Receiver),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Receiver_init,
    .tp_dealloc = (destructor)Receiver_dealloc,
    .tp_methods = Receiver_methods,
    .tp_getset = Receiver_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_batch", "The inlet's receive batch (recvmmsg) in C", -1, NULL,
};

PyMODINIT_FUNC PyInit__batch(void) {
    if (PyType_Ready(&ReceiverType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ReceiverType);
    if (PyModule_AddObject(m, "Receiver", (PyObject *)&ReceiverType) < 0) {
        Py_DECREF(&ReceiverType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
