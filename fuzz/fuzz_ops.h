/*
 * fuzz_ops.h: what the files of the fuzz harness share (fuzz_ops.c is the
 * core and its top comment the overview; fuzz/README.md the encoding).
 */
#ifndef FUZZ_OPS_H
#define FUZZ_OPS_H

#include <future.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOTS 16
#define MAX_OPS 512
#define MAX_CTX 1024
#define MAX_UIDS 4096
#define MAX_VALS 4096
#define MAX_INPUTS 4 /* of a combinator */
#define MAX_ITEMS 8  /* of a combinator or a map */
#define MAX_KEPT 8192
#define MAX_EDGES 16384
#define MAX_JOBS 256

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fuzz_ops: invariant violated (%s:%d): ", __FILE__,       \
            __LINE__);                                                         \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond))                                                               \
      FAIL(__VA_ARGS__);                                                       \
  } while (0)

/* Library calls that must not run callbacks are made inside NOCB. */
#define NOCB(stmt)                                                             \
  do {                                                                         \
    S.nocb++;                                                                  \
    stmt;                                                                      \
    S.nocb--;                                                                  \
  } while (0)

/* How each future the harness holds was made. */
enum kind {
  K_NEW,
  K_RESOLVED,
  K_REJECTED,
  K_THEN,
  K_CATCH,
  K_FINALLY,
  K_ALL,
  K_ALL_SETTLED,
  K_ANY,
  K_RACE,
  K_DELAY,
  K_TIMEOUT,
  K_WORK,
  K_FS,
  K_THREADSAFE,
  K_MAP,
  K_RETRY,
  K_ASYNC,
  K_DNS,
  K_SIGNAL,
  K_WATCH,
  K_PROCESS,
  K_UDP,
  K_STREAM,
  K_NET,
  K_PIPE
};

enum op {
  OP_NEW,
  OP_RESOLVED,
  OP_REJECTED,
  OP_RESOLVE,
  OP_REJECT,
  OP_THEN,
  OP_CATCH,
  OP_FINALLY,
  OP_REF,
  OP_DROP,
  OP_CANCEL,
  OP_COMBINE,
  OP_DELAY0,
  OP_RUN,
  OP_WAIT,
  OP_ADOPT,
  OP_TIMEOUT0,
  OP_LOOP_CLOSE,
  NOPS, /* op bytes below NEW_OP_BASE: byte % NOPS, the ops above */
  /* Op bytes from NEW_OP_BASE on: NOPS + (byte - NEW_OP_BASE) % NNEWOPS. */
  OP_ALLOC = NOPS,
  OP_MISC,
  OP_TRACE,
  OP_POOL,
  OP_WORK,
  OP_FS,
  OP_TREE,
  OP_THREADSAFE,
  OP_DELIVER,
  OP_HELPER_WAIT,
  OP_DELAY,
  OP_TIMEOUT,
  OP_RUN_TIMERS,
  OP_MAP,
  OP_RETRY,
  OP_ASYNC,
  OP_AWAIT,
  OP_WALK,
  OP_DNS,
  OP_SIGNAL,
  OP_WATCH,
  OP_CP,
  OP_PROCESS,
  OP_UDP,
  OP_STREAM,
  OP_NET,
  OP_PIPELINE,
  OP_END
};

#define NEW_OP_BASE 216
#define NNEWOPS (OP_END - NOPS)

/* What a callback returns (spec byte & 7). */
enum ret {
  R_PASS,       /* future_ref(settled) */
  R_RESOLVED,   /* future_resolved with a counted value */
  R_REJECTED,   /* future_rejected with a user error */
  R_NULL,       /* NULL */
  R_POOL,       /* future_ref of a pool slot; a new pending one if empty */
  R_SELF,       /* future_ref of the future the callback is settling */
  R_RESOLVED0,  /* future_resolved(loop, NULL, NULL) */
  R_NOCB        /* no callback at all (NULL is passed when chaining) */
};

/* What a callback does first ((spec byte >> 3) & 7). */
enum side {
  S_NONE,
  S_CANCEL,     /* future_cancel a pool slot */
  S_RESOLVE,    /* future_resolve a pool slot with a counted value */
  S_REJECT,     /* future_reject a pool slot */
  S_DROP,       /* drop a pool slot */
  S_NEW,        /* a new pending future into a pool slot */
  S_LOOP_CLOSE, /* future_loop_close: must say FUTURE_EINCALLBACK */
  S_NONE2
};

typedef struct {
  int kind;
  int adopting;          /* future_adopt succeeded on it while pending */
  unsigned next_seq;     /* continuations attached so far */
  unsigned last_run;     /* sequence number of the last one that ran */
  size_t ninputs;        /* combinators: the inputs, in order */
  future_t *inputs[MAX_ITEMS];
  int aux;               /* K_WORK: its job; K_FS: its operation;
                            K_THREADSAFE: its resolver; K_MAP, K_RETRY,
                            K_ASYNC: its context */
  int in_uid;            /* K_TIMEOUT: its input, as it was when made */
  future_state_t in_st;
  void *in_val;
  int in_code;
  int seen;              /* its outcome has been checked */
} meta_t;

typedef struct {
  future_t *f;           /* one reference, or NULL */
  int uid;               /* the future's identity in meta[] */
  future_state_t st;     /* as last observed */
  void *val;
  const future_error_t *err;
} slot_t;

typedef struct {
  uint8_t ret, side, ret_slot, side_slot;
} spec_t;

typedef struct {
  int id;
  int kind;              /* K_THEN, K_CATCH or K_FINALLY */
  int src_uid;
  future_t *src;         /* the future it is attached to */
  future_t *self;        /* the future it settles */
  int self_uid;
  unsigned seq;          /* its rank among src's continuations */
  int calls;
  spec_t on_f, on_r;
} ctx_t;

typedef struct {
  uint32_t magic;
  atomic_int alive;      /* destructors may run on other threads */
  uint32_t sum;          /* what a future_work job computed */
} val_t;

/* A future_work job (fuzz_threads.c). */
typedef struct {
  int kind;
  uint8_t data;
  unsigned gen;          /* the poll generation when it was queued */
  val_t *val;            /* its value, alive once the job delivers it */
  future_error_t *err;   /* made beforehand; the job returns or frees it */
  atomic_int ran, started;
  int saw_cancel;
  uint32_t result;
} job_t;

#define VAL_MAGIC 0xfa11fe11u

/* FUZZ_OPS_TIDY: "1" or "all" for every habit, or a comma-separated list. */
#define TIDY_SOURCES 1 /* keep and finally settle every source */
#define TIDY_CYCLES 2  /* never build an indirect waiting cycle */
#define TIDY_CANCEL 4  /* never cancel, from a callback, what it settles */

/* FUZZ_OPS_AVOID: steer around known defects of the library (fuzz/README.md,
 * "Known bugs"), each named after its input in fuzz/known-bugs. "1" or
 * "all" for every one, or a comma-separated list. */
#define AVOID_WAIT_NULL 1 /* future_wait(NULL, NULL) leaks its error */
#define AVOID_TRACE_ALLOC 2 /* tracing allocates past the allocator hook */
#define AVOID_FIFO 4        /* write_file to a FIFO fails with ESPIPE */
#define AVOID_RM_SWAP 8     /* rm_r follows a directory swapped for a link */
#define AVOID_FOREIGN_RELEASE 16 /* a list released on another thread */
#define AVOID_FOREIGN_WAIT 32    /* a wait from another thread does not keep
                                    the loop alive */
#define AVOID_TIMEOUT_SETTLED 64 /* a timeout of a settled future times out */
#define AVOID_FACTORY_CANCEL 128 /* a map or retry cancelled by its factory */
#define AVOID_NAN_RETRY 256      /* a NaN multiplier never settles */
#define AVOID_HUGE_DELAY 512     /* a delay of UINT64_MAX ms overflows */
#define AVOID_MAP_CYCLE 1024     /* a map or retry that waits on itself */
#define AVOID_MKDIR_P_DANGLING 2048 /* mkdir_p under a link to nothing */
#define AVOID_AWAIT_STATUS 4096 /* future_await's status is not its error's
                                   code when the error cannot be allocated */
#define AVOID_CLOSE_DELAY 8192 /* a delay made during future_loop_close, after
                                  it cancelled the delays, leaks */

typedef struct {
  uv_loop_t loop;
  slot_t pool[NSLOTS];
  meta_t meta[MAX_UIDS];
  int nuids;
  val_t vals[MAX_VALS];
  int nvals;
  atomic_int vals_born, vals_freed; /* made alive, destroyed */
  ctx_t ctx[MAX_CTX];
  int nctx;
  int nocb;              /* depth of calls that must not run callbacks */
  int finishing;         /* dropping everything: callbacks add nothing */
  int closing;           /* inside the harness's own future_loop_close */
  int walked;            /* a uv_walk closed every handle of the loop (the
                            library's too): the input ends there */
  long unhandled;
  int trace;
  int tidy;              /* FUZZ_OPS_TIDY: TIDY_* bits */
  int avoid;             /* FUZZ_OPS_AVOID: AVOID_* bits */
  int loop_state;        /* a future was made since the loop was last torn
                            down: the library has state for it */
  int pool_used;         /* requests went to libuv's pool */
  job_t jobs[MAX_JOBS];
  int njobs;
  future_t *kept[MAX_KEPT];
  int kept_uid[MAX_KEPT];
  int nkept;
  /* "x waits on y" edges between identities, for FUZZ_OPS_TIDY. */
  int edge_head[MAX_UIDS], edge_next[MAX_EDGES], edge_to[MAX_EDGES];
  int nedges;
  unsigned mark[MAX_UIDS], mark_gen;
  int stack[MAX_UIDS];
  const uint8_t *data;
  size_t size, pos;
} fuzz_state_t;

/* The state of the input being run. */
extern fuzz_state_t S;

#define TRACE(...)                                                             \
  do {                                                                         \
    if (S.trace)                                                               \
      fprintf(stderr, __VA_ARGS__);                                            \
  } while (0)

/* Out of memory: an allocation of the library has failed during this input,
 * so that NULL returns and UV_ENOMEM outcomes are expected anywhere. */
#define OOM() (alloc_failed())
#define ENOMEM_OK(code) (OOM() && (code) == UV_ENOMEM)
/* A future that gave up at once for lack of memory, or none at all. */
#define ENOMEM_FUTURE(f)                                                       \
  (OOM() && ((f) == NULL || (future_error(f) != NULL &&                        \
                             future_error_code(future_error(f)) == UV_ENOMEM)))

/* fuzz_ops.c: the pool of references, values, the core ops. */
extern char token; /* a value without destructor */
uint8_t next_byte(void);
void val_dtor(void *p);
void make_value(uint8_t b, void **value, future_dtor_cb *dtor);
future_error_t *make_error(uint8_t b);
int is_val(const void *p);
void check_value(const void *p);
int new_uid(int kind);
int add_edge(int x, int y);
int reaches(int from, int to);
int tidy_refuses(int x, int y);
void observe(slot_t *s);
void drop(int i);
void put(int i, future_t *f, int uid);
future_t *take(uint8_t b);
int settleable(int i);
void op_new(int dst);
void op_resolve(int i, uint8_t vb);
void op_reject(int i, uint8_t eb);
void op_cancel(int i);
void check_pool(const char *where);
void seen_outcome(int uid, future_state_t st, void *value,
                  const future_error_t *err);

/* fuzz_hooks.c: the process-wide hooks (the allocator) and calls at the
 * edges of the API. */
void hooks_begin(void);
void hooks_end(void);
int alloc_failed(void);
void op_alloc(void);
void op_misc(void);
void op_trace(void);
void trace_end(void);

/* fuzz_fs.c: the scratch directory of the input, and the file system. */
const char *scratch_root(void);
void scratch_path(char *out, const char *rel);
int scratch_exists(void);
void scratch_check(const char *where);
void scratch_end(void);
void fs_begin(void);
void op_fs(void);
void op_tree(void);
void fs_seen(int uid, future_state_t st, void *value,
             const future_error_t *err);

/* fuzz_threads.c: libuv's pool, future_work, resolvers, helper threads. */
void pool_init(void);
void pool_barrier(void);
void pool_unblock(void);
void op_pool(void);
void op_work(void);
void op_dns(void);
void op_signal(void);
void signal_seen(int uid, future_state_t st, void *value,
                 const future_error_t *err);
/* The end: cancel the signal futures still pending (each keeps the loop
 * alive). */
void signals_finish(void);
/* Whether a signal or watch future is pending: it may never settle, so
 * future_wait could block for ever. */
int watchers_pending(void);
void op_watch(void);
void op_cp(void);
void watch_seen(int uid, future_state_t st, void *value,
                const future_error_t *err);
void op_process(void);
void process_seen(int uid, future_state_t st, void *value,
                  const future_error_t *err);
void op_udp(void);
void udp_seen(int uid, future_state_t st, void *value,
              const future_error_t *err);
/* Streams (include/future/stream.h) over a socketpair the harness keeps;
 * streams_held: whether it holds one (future_loop_close answers UV_EBUSY
 * then); signals_finish lets them go. */
void op_stream(void);
void stream_seen(int uid, future_state_t st, void *value,
                 const future_error_t *err);
int streams_held(void);
/* TCP and pipe connections (future_tcp_listen, future_pipe_listen,
 * future_stream_accept, the connects) through a listener the harness
 * keeps between ops; streams_held counts it too. */
void op_net(void);
int streams_in_results(void);
void net_seen(int uid, future_state_t st, void *value,
              const future_error_t *err);
void dns_seen(int uid, future_state_t st, void *value,
              const future_error_t *err);
void work_seen(int uid, future_state_t st, void *value,
               const future_error_t *err);
void work_end(void);
int resolvers_outstanding(void);
int helper_waits_issued(void);
void op_threadsafe(void);
void op_deliver(void);
void op_helper_wait(void);
void resolver_seen(int uid, future_state_t st, void *value,
                   const future_error_t *err);
void threads_finish(void);
void threads_end(void);

/* fuzz_compose.c: delays, timeouts, the loop's last run. */
void compose_begin(void);
void op_delay(void);
void make_timeout(uint8_t sb, int dst, uint64_t ms);
void op_timeout(void);
void timeout_seen(int uid, future_state_t st, void *value,
                  const future_error_t *err);
void op_run_timers(void);
void drain_loop(void);
/* future_loop_close, with its checks; returns its code. */
int op_loop_close(void);
void op_map(void);
void map_seen(int uid, future_state_t st, void *value,
              const future_error_t *err);
void op_retry(void);
void retry_seen(int uid, future_state_t st, void *value,
                const future_error_t *err);
int long_retry_pending(void);
void compose_finish(void);

/* fuzz_async.c: fibers, future_async and future_await. */
void async_begin(void);
void op_async(void);
void op_await(void);
void async_seen(int uid, future_state_t st, void *value,
                const future_error_t *err);
void async_loop_closed(void);
void async_finish(void);

#endif /* FUZZ_OPS_H */
