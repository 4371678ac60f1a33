/*
 * libfuture: the file system as futures. Included by <future.h>; do not
 * include it directly.
 *
 * Every function here starts one libuv file-system request (uv_fs_*), a
 * chain of them, or, for what libuv has no request for (future_fs_copyfile,
 * future_fs_mkdir_p, future_fs_rm_r, future_fs_cp), one job on libuv's
 * thread pool, on `loop`, and returns a future for its outcome: a new
 * reference, or NULL only when `loop` is NULL or memory runs out. A NULL
 * path or buffer gives a future rejected with UV_EINVAL.
 *
 * ERRORS name the operation and the path(s), as in
 *
 *     open 'conf.json': no such file or directory (ENOENT)
 *     rename 'a' -> 'b': no such file or directory (ENOENT)
 *     fstat fd 7: bad file descriptor (EBADF)
 *
 * The code is libuv's (UV_ENOENT, UV_EEXIST, ...).
 *
 * VALUES. Each function says what its future is fulfilled with. Small
 * integers (file descriptors, byte counts) are stored in the value pointer
 * itself: read them with (intptr_t)future_value(f) or (intptr_t)r.value.
 * Everything else (a uv_stat_t copy, a string, a buffer, directory
 * entries) is owned by the future: it is valid while you hold the future,
 * or a future_result_t that carries it, and the library frees it when the
 * last of these is released. Do not free it yourself.
 *
 * Exceptions, because they are resources rather than memory: a file
 * descriptor (future_fs_open, future_fs_mkstemp) and a uv_dir_t
 * (future_fs_opendir) become yours once the future fulfils; close them
 * with future_fs_close / future_fs_dir_close (or uv_fs_close / ...).
 *
 * CANCELLATION. future_cancel on any of these futures rejects it at once
 * with UV_ECANCELED. The request in flight is removed from libuv's thread
 * pool queue if it has not started; if it has, it finishes and its result
 * is released, never delivered: a file opened by a cancelled open is
 * closed, a temporary file or directory made by a cancelled mkstemp or
 * mkdtemp is removed again, a directory opened by a cancelled opendir is
 * closed, buffers and strings are freed. The helpers stop at the step in
 * flight and close the file or directory they had open. A job that has
 * started notices the cancel at its next step and stops there:
 * future_fs_read_file, future_fs_write_file, future_fs_append_file
 * between two reads or writes of at most 2 MiB (they close the file
 * inside the job, whatever happens), future_fs_copyfile between two
 * chunks (and removes the copy), future_fs_mkdir_p before each
 * component, future_fs_rm_r before each entry, future_fs_cp before each
 * entry and between two chunks of a file (and removes that file). Whether
 * an operation that changes the file system (write, unlink, rename, ...)
 * took place before the cancel is not known: it may have. A close is
 * never taken back: future_fs_close and future_fs_dir_close close the
 * descriptor even when cancelled.
 *
 * The cleanup after a cancel runs on the loop, so the loop stays alive
 * (uv_run keeps running) until it is complete. The same cleanup follows
 * when memory runs out to hand the value over (the future is then
 * rejected with UV_ENOMEM): a temporary file or directory is not left
 * behind, nor a descriptor open.
 *
 * PATHS AND LINKS. Each operation resolves a path once, as the system
 * resolves any path, symbolic links included, and then works on what it
 * opened, never on the path again: renaming a directory on the way, or
 * swapping it for a link, while an operation runs cannot send it
 * elsewhere half-way. future_fs_read_file, future_fs_write_file,
 * future_fs_append_file and future_fs_truncate open `path` once (a link
 * there is followed, as open follows it) and use that descriptor;
 * future_fs_readdir opens its directory once; future_fs_copyfile opens
 * the source, and the directory that holds the destination, once each;
 * future_fs_mkdir_p goes down one component at a time from the directory
 * opened before it, following links that already exist but never one in
 * place of a directory it made; future_fs_rm_r follows only the links
 * that lead to `path`, and removes the links in the tree instead of
 * following them; future_fs_cp walks both trees as rm_r walks, and copies
 * links as links. The single requests (future_fs_stat, future_fs_unlink,
 * ...) are one system call on the path each, with that call's own rules:
 * stat follows a link, lstat does not.
 *
 * BUFFERS that you pass in (future_fs_read_into, future_fs_write,
 * future_fs_write_file, future_fs_append_file) are used by a thread of
 * libuv's pool until the request completes. That is before the future
 * settles, except after a cancel, when the request may still be running.
 * The write functions therefore take a destructor: when not NULL, the
 * library owns the buffer and runs the destructor exactly once, when no
 * request uses the buffer any more (whatever the outcome; at once if the
 * future cannot be created). With a NULL destructor the buffer is borrowed
 * and must outlive the request: until the future settles, or, if you
 * cancel it, until the loop has run out of work (uv_run returned).
 */
#ifndef FUTURE_FS_H
#define FUTURE_FS_H

#ifndef FUTURE_H
#error "include <future.h>, not <future/fs.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* value types */

/**
 * A buffer the library allocated: `len` bytes at `base`, followed by a NUL
 * byte that is not counted (so text can be used as a C string). Owned by
 * the future that carries it.
 */
typedef struct future_buf_s {
  char *base;  /**< The bytes (never NULL). */
  size_t len;  /**< How many bytes. */
} future_buf_t;

/** One directory entry. */
typedef struct future_fs_dirent_s {
  const char *name;       /**< The entry's name, without its directory. */
  uv_dirent_type_t type;  /**< UV_DIRENT_FILE, UV_DIRENT_DIR, ... or
                               UV_DIRENT_UNKNOWN if the file system does
                               not say. */
} future_fs_dirent_t;

/**
 * Directory entries: `count` entries in `entries`, never "." or "..".
 * One block, owned by the future that carries it.
 */
typedef struct future_fs_dirents_s {
  size_t count;                 /**< How many entries. */
  future_fs_dirent_t *entries;  /**< The entries (NULL when count is 0). */
} future_fs_dirents_t;

/**
 * One entry of future_fs_scandir_stat: its name, and its lstat (the entry
 * itself, never what a symbolic link points to) or why there is none.
 */
typedef struct future_fs_stat_entry_s {
  const char *name;       /**< The entry's name, without its directory. */
  uv_dirent_type_t type;  /**< From the lstat's st_mode (UV_DIRENT_FILE,
                               UV_DIRENT_DIR, UV_DIRENT_LINK, ...), or the
                               directory's word when `error` is not 0. */
  int error;              /**< 0, or the UV_E* code the entry's lstat
                               failed with (UV_ENOENT: removed between
                               the listing and the lstat). */
  uv_stat_t stat;         /**< The lstat, when `error` is 0. */
} future_fs_stat_entry_t;

/**
 * Directory entries with their lstat: `count` entries in `entries`, never
 * "." or "..". One block, owned by the future that carries it.
 */
typedef struct future_fs_stat_entries_s {
  size_t count;                     /**< How many entries. */
  future_fs_stat_entry_t *entries;  /**< The entries (NULL when count is
                                         0). */
} future_fs_stat_entries_t;

/**
 * What future_fs_mkstemp makes: an open file descriptor (yours to close)
 * and the name of the new file (owned by the future).
 */
typedef struct future_fs_tmpfile_s {
  uv_file fd;        /**< Open for reading and writing; yours to close. */
  const char *path;  /**< The file's name: the template, XXXXXX filled. */
} future_fs_tmpfile_t;

/** future_fs_rm_r: a missing path is success, not UV_ENOENT. */
#define FUTURE_FS_RM_FORCE 1u

/** future_fs_cp: replace a file or link already at a destination name
 * (Node's force: true). A directory is never replaced. */
#define FUTURE_FS_CP_FORCE 1u
/** future_fs_cp without FUTURE_FS_CP_FORCE: a file or link already at a
 * destination name is an error (UV_EEXIST) rather than skipped (Node's
 * errorOnExist). */
#define FUTURE_FS_CP_ERROR_ON_EXIST 2u
/** future_fs_cp: give what it makes the source's access and modification
 * times (Node's preserveTimestamps). */
#define FUTURE_FS_CP_PRESERVE_TIMESTAMPS 4u
/** future_fs_cp: skip FIFOs, sockets and devices instead of failing on
 * them (UV_EINVAL). */
#define FUTURE_FS_CP_SKIP_SPECIAL 8u

/* files and descriptors */

/**
 * Open `path` (uv_fs_open): `flags` are UV_FS_O_* flags (O_RDONLY, O_WRONLY
 * | O_CREAT | O_TRUNC, ...), `mode` the permissions of a created file.
 * @return a new reference; fulfilled with the file descriptor, as
 * (intptr_t)value, which is yours to close (a cancelled open closes it).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_open(uv_loop_t *loop, const char *path,
                                       int flags, int mode) FUTURE_WARN_UNUSED;

/**
 * Close the file descriptor `file` (uv_fs_close). Once started, a close is
 * never taken back: future_cancel rejects the future but the descriptor is
 * closed all the same.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_close(uv_loop_t *loop,
                                        uv_file file) FUTURE_WARN_UNUSED;

/**
 * Read up to `len` bytes from `file` at `offset` (-1: at the file's current
 * position) into a buffer the library allocates (uv_fs_read).
 * @return a new reference; fulfilled with a future_buf_t * owned by the
 * future; its `len` is the number of bytes read, 0 at the end of the file.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_read(uv_loop_t *loop, uv_file file,
                                       size_t len,
                                       int64_t offset) FUTURE_WARN_UNUSED;

/**
 * Read up to `len` bytes from `file` at `offset` (-1: current position)
 * into your buffer `buf` (borrowed: see BUFFERS above).
 * @return a new reference; fulfilled with the number of bytes read, as
 * (intptr_t)value, 0 at the end of the file.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_read_into(uv_loop_t *loop, uv_file file,
                                            void *buf, size_t len,
                                            int64_t offset) FUTURE_WARN_UNUSED;

/**
 * Write `len` bytes of `buf` to `file` at `offset` (-1: current position)
 * (uv_fs_write). `buf_dtor`, if not NULL, takes ownership of `buf` (see
 * BUFFERS above).
 * @return a new reference; fulfilled with the number of bytes written, as
 * (intptr_t)value.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_write(uv_loop_t *loop, uv_file file,
                                        const void *buf, size_t len,
                                        int64_t offset,
                                        future_dtor_cb buf_dtor)
    FUTURE_WARN_UNUSED;

/**
 * Copy `length` bytes from `in_fd` at `in_offset` to `out_fd` at its
 * current position (uv_fs_sendfile).
 * @return a new reference; fulfilled with the number of bytes copied, as
 * (intptr_t)value.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_sendfile(uv_loop_t *loop, uv_file out_fd,
                                           uv_file in_fd, int64_t in_offset,
                                           size_t length) FUTURE_WARN_UNUSED;

/**
 * Flush `file` to storage, data and metadata (uv_fs_fsync).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_fsync(uv_loop_t *loop,
                                        uv_file file) FUTURE_WARN_UNUSED;

/**
 * Flush the data of `file` to storage (uv_fs_fdatasync).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_fdatasync(uv_loop_t *loop,
                                            uv_file file) FUTURE_WARN_UNUSED;

/**
 * Cut or extend `file` to `length` bytes (uv_fs_ftruncate).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_ftruncate(uv_loop_t *loop, uv_file file,
                                            int64_t length) FUTURE_WARN_UNUSED;

/* metadata */

/**
 * The status of `path`, following symbolic links (uv_fs_stat).
 * @return a new reference; fulfilled with a uv_stat_t * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_stat(uv_loop_t *loop,
                                       const char *path) FUTURE_WARN_UNUSED;

/**
 * The status of the open file `file` (uv_fs_fstat).
 * @return a new reference; fulfilled with a uv_stat_t * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_fstat(uv_loop_t *loop,
                                        uv_file file) FUTURE_WARN_UNUSED;

/**
 * The status of `path` itself, not of what a symbolic link points to
 * (uv_fs_lstat).
 * @return a new reference; fulfilled with a uv_stat_t * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_lstat(uv_loop_t *loop,
                                        const char *path) FUTURE_WARN_UNUSED;

/**
 * The status of the file system holding `path` (uv_fs_statfs).
 * @return a new reference; fulfilled with a uv_statfs_t * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_statfs(uv_loop_t *loop,
                                         const char *path) FUTURE_WARN_UNUSED;

/**
 * Check that `path` exists and, with `mode` R_OK / W_OK / X_OK (F_OK: just
 * exists), that the process may use it so (uv_fs_access).
 * @return a new reference; fulfilled with NULL, rejected (UV_ENOENT,
 * UV_EACCES, ...) otherwise.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_access(uv_loop_t *loop, const char *path,
                                         int mode) FUTURE_WARN_UNUSED;

/**
 * Change the permissions of `path` (uv_fs_chmod).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_chmod(uv_loop_t *loop, const char *path,
                                        int mode) FUTURE_WARN_UNUSED;

/**
 * Change the permissions of the open file `file` (uv_fs_fchmod).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_fchmod(uv_loop_t *loop, uv_file file,
                                         int mode) FUTURE_WARN_UNUSED;

/**
 * Set the access and modification times of `path`, in seconds since the
 * epoch (uv_fs_utime).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_utime(uv_loop_t *loop, const char *path,
                                        double atime,
                                        double mtime) FUTURE_WARN_UNUSED;

/**
 * Set the access and modification times of the open file `file`
 * (uv_fs_futime).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_futime(uv_loop_t *loop, uv_file file,
                                         double atime,
                                         double mtime) FUTURE_WARN_UNUSED;

/**
 * Set the times of `path` itself, not of what a symbolic link points to
 * (uv_fs_lutime).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_lutime(uv_loop_t *loop, const char *path,
                                         double atime,
                                         double mtime) FUTURE_WARN_UNUSED;

/**
 * Change the owner and group of `path` (uv_fs_chown); -1 leaves one as
 * it is.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_chown(uv_loop_t *loop, const char *path,
                                        uv_uid_t uid,
                                        uv_gid_t gid) FUTURE_WARN_UNUSED;

/**
 * Change the owner and group of the open file `file` (uv_fs_fchown).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_fchown(uv_loop_t *loop, uv_file file,
                                         uv_uid_t uid,
                                         uv_gid_t gid) FUTURE_WARN_UNUSED;

/**
 * Change the owner and group of `path` itself, not of what a symbolic link
 * points to (uv_fs_lchown).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_lchown(uv_loop_t *loop, const char *path,
                                         uv_uid_t uid,
                                         uv_gid_t gid) FUTURE_WARN_UNUSED;

/* names */

/**
 * Remove the file (or symbolic link) `path` (uv_fs_unlink).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_unlink(uv_loop_t *loop,
                                         const char *path) FUTURE_WARN_UNUSED;

/**
 * Rename `path` to `new_path`, replacing a file there (uv_fs_rename).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_rename(uv_loop_t *loop, const char *path,
                                         const char *new_path)
    FUTURE_WARN_UNUSED;

/**
 * Copy the file `path` to `new_path`, its mode with it. `flags`:
 * UV_FS_COPYFILE_EXCL (fail with UV_EEXIST if `new_path` exists),
 * UV_FS_COPYFILE_FICLONE (copy-on-write if the file system can),
 * UV_FS_COPYFILE_FICLONE_FORCE (copy-on-write or fail), or 0. Both paths
 * are resolved as any path is, once each: a link at `new_path` is written
 * through, as cp does (EXCL refuses it); a copy onto the source itself
 * does nothing.
 *
 * This is uv_fs_copyfile, done as one job on libuv's thread pool for one
 * difference: a destination the copy could not fill is removed from the
 * directory it was made in, and only while its name there still names the
 * file the copy opened (uv_fs_copyfile removes whatever the path names by
 * then, which may be elsewhere). A cancel is noticed between chunks of at
 * most 2 MiB and fails the copy, which removes the destination so.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_copyfile(uv_loop_t *loop, const char *path,
                                           const char *new_path,
                                           int flags) FUTURE_WARN_UNUSED;

/**
 * Make `new_path` a hard link to `path` (uv_fs_link).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_link(uv_loop_t *loop, const char *path,
                                       const char *new_path) FUTURE_WARN_UNUSED;

/**
 * Make `new_path` a symbolic link whose content is `path` (uv_fs_symlink;
 * `flags` matter on Windows only: UV_FS_SYMLINK_DIR, UV_FS_SYMLINK_JUNCTION).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_symlink(uv_loop_t *loop, const char *path,
                                          const char *new_path,
                                          int flags) FUTURE_WARN_UNUSED;

/**
 * The content of the symbolic link `path` (uv_fs_readlink).
 * @return a new reference; fulfilled with a NUL-terminated char * owned by
 * the future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_readlink(uv_loop_t *loop,
                                           const char *path) FUTURE_WARN_UNUSED;

/**
 * The canonical absolute name of `path`, every symbolic link resolved
 * (uv_fs_realpath).
 * @return a new reference; fulfilled with a NUL-terminated char * owned by
 * the future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_realpath(uv_loop_t *loop,
                                           const char *path) FUTURE_WARN_UNUSED;

/**
 * Make a file with a unique name from `tpl`, which must end in "XXXXXX",
 * and open it for reading and writing (uv_fs_mkstemp). A cancelled
 * mkstemp leaves nothing behind: the file is closed and removed.
 * @return a new reference; fulfilled with a future_fs_tmpfile_t * owned by
 * the future (its `fd` is yours to close).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_mkstemp(uv_loop_t *loop,
                                          const char *tpl) FUTURE_WARN_UNUSED;

/* directories */

/**
 * Make the directory `path` with permissions `mode` (uv_fs_mkdir).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_mkdir(uv_loop_t *loop, const char *path,
                                        int mode) FUTURE_WARN_UNUSED;

/**
 * Make a directory with a unique name from `tpl`, which must end in
 * "XXXXXX" (uv_fs_mkdtemp). A cancelled mkdtemp removes the directory.
 * @return a new reference; fulfilled with its name, a char * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_mkdtemp(uv_loop_t *loop,
                                          const char *tpl) FUTURE_WARN_UNUSED;

/**
 * Remove the empty directory `path` (uv_fs_rmdir).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_rmdir(uv_loop_t *loop,
                                        const char *path) FUTURE_WARN_UNUSED;

/**
 * Every entry of the directory `path`, read in one request and sorted by
 * name (uv_fs_scandir).
 * @return a new reference; fulfilled with a future_fs_dirents_t * owned by
 * the future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_scandir(uv_loop_t *loop,
                                          const char *path) FUTURE_WARN_UNUSED;

/**
 * Open the directory `path` for reading in batches (uv_fs_opendir). A
 * cancelled opendir closes the directory.
 * @return a new reference; fulfilled with a uv_dir_t *, yours until you
 * pass it to future_fs_dir_close.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_opendir(uv_loop_t *loop,
                                          const char *path) FUTURE_WARN_UNUSED;

/**
 * The next entries, at most `max_entries` (0 means 32), of a directory
 * opened with future_fs_opendir (uv_fs_readdir), in the order the file
 * system gives them. One read at a time per directory.
 * @return a new reference; fulfilled with a future_fs_dirents_t * owned by
 * the future, with a count of 0 once every entry has been read.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_dir_read(uv_loop_t *loop, uv_dir_t *dir,
                                           size_t max_entries)
    FUTURE_WARN_UNUSED;

/**
 * Close a directory opened with future_fs_opendir and free `dir`
 * (uv_fs_closedir). Like future_fs_close, never taken back by a cancel.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_dir_close(uv_loop_t *loop,
                                            uv_dir_t *dir) FUTURE_WARN_UNUSED;

/* whole files and trees, like Node's fs.promises */

/**
 * The whole content of the file `path`, of any size: open (following a
 * link at `path`), fstat for a size hint, read until the end of the file
 * (however short each read), close. A regular file is read by one job on
 * libuv's thread pool that makes all these system calls (one trip through
 * the pool per file); another file (a FIFO, a device, a /proc file whose
 * size says 0) is opened and fstat'ed by the job, then read with one
 * uv_fs_read per read from the loop, so that a read that blocks can be
 * cancelled. A cancel takes the job off the pool's queue if it has not
 * started (nothing is opened); once it runs, it is noticed between two
 * reads (of at most 2 MiB), or between two uv_fs_reads. The file is
 * closed on every path, error and cancel included. Errors name the step:
 * "open 'p'", "fstat 'p'", "read 'p'", "close 'p'".
 * @return a new reference; fulfilled with a future_buf_t * owned by the
 * future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_read_file(uv_loop_t *loop,
                                            const char *path)
    FUTURE_WARN_UNUSED;

/**
 * Replace the content of the file `path` (created with mode 0666 less the
 * umask if missing) with the `len` bytes of `data`: open with O_TRUNC
 * (following a link at `path`, as any open does), write until everything
 * is written, close. The writes are sequential, at the descriptor's
 * position, as Node's writeFile's are, so that `path` may also be a FIFO,
 * a pipe or a terminal (/dev/stdout). One job on libuv's thread pool
 * makes all these system calls; a cancel takes it off the pool's queue if
 * it has not started (nothing is opened or created), and once it runs is
 * noticed between two writes of at most 2 MiB (what was written stays).
 * `data_dtor`, if not NULL, takes ownership of `data` (see BUFFERS
 * above).
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_write_file(uv_loop_t *loop, const char *path,
                                             const void *data, size_t len,
                                             future_dtor_cb data_dtor)
    FUTURE_WARN_UNUSED;

/**
 * Like future_fs_write_file, but add `data` at the end of the file
 * (O_APPEND) instead of replacing its content.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_append_file(uv_loop_t *loop,
                                              const char *path,
                                              const void *data, size_t len,
                                              future_dtor_cb data_dtor)
    FUTURE_WARN_UNUSED;

/**
 * Cut or extend the file `path` to `length` bytes: open (following a link
 * at `path`), ftruncate of that descriptor, close.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_truncate(uv_loop_t *loop, const char *path,
                                           int64_t length) FUTURE_WARN_UNUSED;

/**
 * Make the directory `path` and any missing parent (mkdir -p), each with
 * permissions `mode`. A directory that already exists is success; a file
 * in its place is an error (UV_EEXIST for `path` itself, UV_ENOTDIR for a
 * parent). "/" always exists: its mkdir_p is fulfilled with NULL.
 *
 * Links are followed where they already exist, as mkdir -p follows them:
 * a component of `path`, or `path` itself, that is a symbolic link to a
 * directory is gone through; one to nothing is an error (UV_ENOENT). The
 * directories mkdir_p makes, it enters without following links.
 *
 * The walk is one job on libuv's thread pool that goes down one component
 * at a time from a directory descriptor (mkdirat, then openat): each
 * component is resolved once, in the directory opened before it, and each
 * directory is made in the one opened before it. Renaming a component, or
 * swapping it for a link, while mkdir_p runs therefore cannot make it
 * create directories elsewhere; a directory it made and that was swapped
 * for a link before it went in is an error (UV_ELOOP). A cancel is noticed
 * before each component.
 * @return a new reference; fulfilled with the first directory made, a
 * char * owned by the future, or NULL if every directory already existed.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_mkdir_p(uv_loop_t *loop, const char *path,
                                          int mode) FUTURE_WARN_UNUSED;

/**
 * Remove `path` and, if it is a directory, everything in it (rm -r). A
 * symbolic link is removed, never followed, at the top as inside the tree;
 * only the directories that lead to `path` are followed, as in any path.
 * "/" and a path whose last component is "." or ".." are refused, as rm -r
 * refuses them: the future is rejected at once with UV_EINVAL ("rm '.':
 * refusing to remove '.' or '..' directory") and nothing is removed. A
 * missing `path` is an error (UV_ENOENT) unless `flags` has
 * FUTURE_FS_RM_FORCE; things that vanish meanwhile inside the tree are
 * not.
 *
 * The walk is one job on libuv's thread pool that starts from the
 * directory holding `path` and goes down with directory descriptors
 * (openat, fstatat, unlinkat): each directory is found by its name in its
 * parent, never through a link, and checked (st_dev, st_ino) to be the
 * directory it looked at, so that renaming a directory or swapping it for
 * a link while the walk runs never leads it out of the tree. Its depth is
 * not limited by PATH_MAX, and it holds at most 18 files open whatever the
 * depth (it makes do with fewer when the process runs short). A directory
 * that keeps changing under it, or a part of the tree moved away from
 * under it, stops it with UV_EAGAIN.
 *
 * Errors name the step and the path, which starts with `path` as given:
 * "rmdir 'a/b': directory not empty (ENOTEMPTY)". The steps are open (of
 * the directory holding `path`, or of a directory of the tree), lstat,
 * readdir, unlink and rmdir.
 *
 * A cancel is noticed before each entry: the walk stops before its next
 * unlink or rmdir (only one in progress at the moment of the cancel still
 * completes), closes what it had open and leaves the rest of the tree.
 * @return a new reference; fulfilled with NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_rm_r(uv_loop_t *loop, const char *path,
                                       unsigned int flags) FUTURE_WARN_UNUSED;

/**
 * Every entry of the directory `path`, read in batches (opendir, readdir
 * until the end, closedir), in the order the file system gives them; the
 * directory is closed on every path. Unlike future_fs_scandir, no single
 * request holds a pool thread for a huge directory, and the entries are
 * not sorted.
 * @return a new reference; fulfilled with a future_fs_dirents_t * owned by
 * the future.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_fs_readdir(uv_loop_t *loop,
                                          const char *path) FUTURE_WARN_UNUSED;

/**
 * Copy `src` to `dest`, and, if `src` is a directory, everything in it
 * (Node's fs.promises.cp with recursive: true, cp -R). A directory is
 * made for each directory (or merged into one already there), a file for
 * each regular file (its bytes and its permission bits), a symbolic link
 * for each link, with the same target, never followed (Node's
 * dereference: false, at the top as inside the tree; the target is copied
 * verbatim, as Node's verbatimSymlinks: true does, so a relative link
 * keeps pointing relative to where it now is, and a link pointing outside
 * the tree is copied as a link, never by what it points to). A FIFO, a
 * socket or a device is an error (UV_EINVAL, "cp 'a/p' -> 'b/p': cannot
 * copy a FIFO") unless `flags` has FUTURE_FS_CP_SKIP_SPECIAL, which skips
 * them. Hard links are copied as separate files.
 *
 * `flags`: 0 or FUTURE_FS_CP_FORCE, FUTURE_FS_CP_ERROR_ON_EXIST,
 * FUTURE_FS_CP_PRESERVE_TIMESTAMPS, FUTURE_FS_CP_SKIP_SPECIAL, or-ed
 * (anything else: UV_EINVAL). A file or link already at a destination name
 * is left alone (skipped) by default, replaced with FUTURE_FS_CP_FORCE, an
 * error (UV_EEXIST) with FUTURE_FS_CP_ERROR_ON_EXIST; a directory there
 * in place of a file is an error (UV_EISDIR), a file or link in place of a
 * directory too (UV_ENOTDIR). A link in the destination, `dest` itself
 * included, is never followed either: it is treated as a file. The
 * directory that holds `dest` must exist (make it with future_fs_mkdir_p).
 *
 * Copying a directory into itself (`dest` is `src` or inside it, found by
 * identity, st_dev and st_ino, whatever the links on the way) is refused
 * with UV_EINVAL before anything is made: "cp 'a' -> 'a/b': cannot copy a
 * directory into itself"; so is a file onto itself ("source and
 * destination are the same").
 *
 * The copy is one job on libuv's thread pool that starts from the
 * directories holding `src` and `dest` (opened once, following links as
 * any path does) and goes down both trees with directory descriptors:
 * each source entry is looked at without following links (fstatat), opened
 * with O_NOFOLLOW and checked (st_dev, st_ino) to be what was looked at;
 * each destination entry is made relative to the destination directory
 * made or opened before it (mkdirat, openat with O_CREAT | O_EXCL |
 * O_NOFOLLOW, symlinkat). Renaming a directory of either tree, or swapping
 * it for a link, while the copy runs therefore never makes it read or
 * write outside the two trees: it fails (UV_ELOOP, UV_ENOTDIR, UV_EAGAIN)
 * or copies what it finds. An entry that vanishes meanwhile is skipped.
 * Its depth is not limited by PATH_MAX, and it holds at most 20 files open
 * whatever the depth. A directory it makes has its source's permissions
 * plus the owner's rwx until it is full, then exactly its source's.
 *
 * Errors name both paths, which start with `src` and `dest` as given:
 * "cp 'a/b' -> 'c/b': permission denied (EACCES)".
 *
 * A cancel is noticed before each entry and between two chunks of a file:
 * the copy stops there, removes the file it was filling, and leaves what
 * it copied before: a partial copy, which a second future_fs_cp (or
 * future_fs_rm_r) completes (or removes). The same holds after an error.
 * No descriptor stays open, whatever the outcome.
 * @return a new reference; fulfilled with NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_fs_cp(uv_loop_t *loop, const char *src,
                                     const char *dest,
                                     unsigned int flags) FUTURE_WARN_UNUSED;

/**
 * Every entry of the directory `path` with its lstat, as one job on
 * libuv's thread pool: open the directory (following a link at `path`),
 * read it, lstat each entry relative to the directory's descriptor
 * (fstatat with AT_SYMLINK_NOFOLLOW: a symbolic link is not followed, and
 * renaming a directory above cannot send the walk elsewhere), close. One
 * trip through the pool per directory, where future_fs_readdir and an
 * future_fs_lstat per entry make one per entry: what a du or a tree walk
 * wants. The entries come in the order the file system gives them. An
 * entry whose lstat fails (removed meanwhile) is kept, with its `error`
 * set; a directory that cannot be opened or read rejects the future
 * ("open 'p'", "readdir 'p'"). A cancel takes the job off the pool's
 * queue if it has not started, and once it runs is noticed before each
 * entry; the directory is closed inside the job on every path. The job
 * holds a pool thread for as long as the directory takes to list.
 * @return a new reference; fulfilled with a future_fs_stat_entries_t *
 * owned by the future.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_fs_scandir_stat(uv_loop_t *loop,
                                               const char *path)
    FUTURE_WARN_UNUSED;

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_fs_open(...) FUTURE_AT(future_fs_open(__VA_ARGS__))
#define future_fs_close(...) FUTURE_AT(future_fs_close(__VA_ARGS__))
#define future_fs_read(...) FUTURE_AT(future_fs_read(__VA_ARGS__))
#define future_fs_read_into(...) FUTURE_AT(future_fs_read_into(__VA_ARGS__))
#define future_fs_write(...) FUTURE_AT(future_fs_write(__VA_ARGS__))
#define future_fs_sendfile(...) FUTURE_AT(future_fs_sendfile(__VA_ARGS__))
#define future_fs_fsync(...) FUTURE_AT(future_fs_fsync(__VA_ARGS__))
#define future_fs_fdatasync(...) FUTURE_AT(future_fs_fdatasync(__VA_ARGS__))
#define future_fs_ftruncate(...) FUTURE_AT(future_fs_ftruncate(__VA_ARGS__))
#define future_fs_stat(...) FUTURE_AT(future_fs_stat(__VA_ARGS__))
#define future_fs_fstat(...) FUTURE_AT(future_fs_fstat(__VA_ARGS__))
#define future_fs_lstat(...) FUTURE_AT(future_fs_lstat(__VA_ARGS__))
#define future_fs_statfs(...) FUTURE_AT(future_fs_statfs(__VA_ARGS__))
#define future_fs_access(...) FUTURE_AT(future_fs_access(__VA_ARGS__))
#define future_fs_chmod(...) FUTURE_AT(future_fs_chmod(__VA_ARGS__))
#define future_fs_fchmod(...) FUTURE_AT(future_fs_fchmod(__VA_ARGS__))
#define future_fs_utime(...) FUTURE_AT(future_fs_utime(__VA_ARGS__))
#define future_fs_futime(...) FUTURE_AT(future_fs_futime(__VA_ARGS__))
#define future_fs_lutime(...) FUTURE_AT(future_fs_lutime(__VA_ARGS__))
#define future_fs_chown(...) FUTURE_AT(future_fs_chown(__VA_ARGS__))
#define future_fs_fchown(...) FUTURE_AT(future_fs_fchown(__VA_ARGS__))
#define future_fs_lchown(...) FUTURE_AT(future_fs_lchown(__VA_ARGS__))
#define future_fs_unlink(...) FUTURE_AT(future_fs_unlink(__VA_ARGS__))
#define future_fs_rename(...) FUTURE_AT(future_fs_rename(__VA_ARGS__))
#define future_fs_copyfile(...) FUTURE_AT(future_fs_copyfile(__VA_ARGS__))
#define future_fs_link(...) FUTURE_AT(future_fs_link(__VA_ARGS__))
#define future_fs_symlink(...) FUTURE_AT(future_fs_symlink(__VA_ARGS__))
#define future_fs_readlink(...) FUTURE_AT(future_fs_readlink(__VA_ARGS__))
#define future_fs_realpath(...) FUTURE_AT(future_fs_realpath(__VA_ARGS__))
#define future_fs_mkstemp(...) FUTURE_AT(future_fs_mkstemp(__VA_ARGS__))
#define future_fs_mkdir(...) FUTURE_AT(future_fs_mkdir(__VA_ARGS__))
#define future_fs_mkdtemp(...) FUTURE_AT(future_fs_mkdtemp(__VA_ARGS__))
#define future_fs_rmdir(...) FUTURE_AT(future_fs_rmdir(__VA_ARGS__))
#define future_fs_scandir(...) FUTURE_AT(future_fs_scandir(__VA_ARGS__))
#define future_fs_opendir(...) FUTURE_AT(future_fs_opendir(__VA_ARGS__))
#define future_fs_dir_read(...) FUTURE_AT(future_fs_dir_read(__VA_ARGS__))
#define future_fs_dir_close(...) FUTURE_AT(future_fs_dir_close(__VA_ARGS__))
#define future_fs_read_file(...) FUTURE_AT(future_fs_read_file(__VA_ARGS__))
#define future_fs_write_file(...) FUTURE_AT(future_fs_write_file(__VA_ARGS__))
#define future_fs_append_file(...) FUTURE_AT(future_fs_append_file(__VA_ARGS__))
#define future_fs_truncate(...) FUTURE_AT(future_fs_truncate(__VA_ARGS__))
#define future_fs_mkdir_p(...) FUTURE_AT(future_fs_mkdir_p(__VA_ARGS__))
#define future_fs_rm_r(...) FUTURE_AT(future_fs_rm_r(__VA_ARGS__))
#define future_fs_readdir(...) FUTURE_AT(future_fs_readdir(__VA_ARGS__))
#define future_fs_cp(...) FUTURE_AT(future_fs_cp(__VA_ARGS__))
#define future_fs_scandir_stat(...) \
  FUTURE_AT(future_fs_scandir_stat(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_FS_H */
