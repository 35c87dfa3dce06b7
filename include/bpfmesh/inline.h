/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_INLINE_H
#define BPFMESH_INLINE_H
/* How the arithmetic headers shared by BPF programs and unit tests declare
 * their functions: always inlined in BPF (the verifier sees one program),
 * plain static inline in user space. */
#ifdef __BPF__
#define BPFMESH_INLINE static __always_inline
#else
#define BPFMESH_INLINE static inline
#endif

#endif /* BPFMESH_INLINE_H */
