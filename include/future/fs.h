/*
 * libfuture: the file system as futures. Included by <future.h>; do not
 * include it directly.
 */
#ifndef FUTURE_FS_H
#define FUTURE_FS_H

#ifndef FUTURE_H
#error "include <future.h>, not <future/fs.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_FS_H */
