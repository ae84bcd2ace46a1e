/* The names of linux.seccomp that the agent honours, one list for the agent's profile reader (which
 * expands the second argument to libseccomp's value) and for the runtime's `features` (which takes the
 * names only, so it needs no libseccomp). */
#ifndef VC_SECCOMP_NAMES_H
#define VC_SECCOMP_NAMES_H

/* SCMP_ACT_NOTIFY is not among them: its listener would be a socket in the guest that no engine reaches,
 * so a profile that uses it is refused. ERRNO and TRACE take errnoRet (EPERM when absent), as in runc. */
#define VC_SECCOMP_ACTIONS(X)                                                                                \
        X("SCMP_ACT_KILL", SCMP_ACT_KILL)                                                                    \
        X("SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS)                                                    \
        X("SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD)                                                      \
        X("SCMP_ACT_TRAP", SCMP_ACT_TRAP)                                                                    \
        X("SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0))                                                               \
        X("SCMP_ACT_TRACE", SCMP_ACT_TRACE(0))                                                               \
        X("SCMP_ACT_ALLOW", SCMP_ACT_ALLOW)                                                                  \
        X("SCMP_ACT_LOG", SCMP_ACT_LOG)

#define VC_SECCOMP_OPERATORS(X)                                                                              \
        X("SCMP_CMP_NE", SCMP_CMP_NE)                                                                        \
        X("SCMP_CMP_LT", SCMP_CMP_LT)                                                                        \
        X("SCMP_CMP_LE", SCMP_CMP_LE)                                                                        \
        X("SCMP_CMP_EQ", SCMP_CMP_EQ)                                                                        \
        X("SCMP_CMP_GE", SCMP_CMP_GE)                                                                        \
        X("SCMP_CMP_GT", SCMP_CMP_GT)                                                                        \
        X("SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ)

#define VC_SECCOMP_ARCHS(X)                                                                                  \
        X("SCMP_ARCH_X86", SCMP_ARCH_X86)                                                                    \
        X("SCMP_ARCH_X86_64", SCMP_ARCH_X86_64)                                                              \
        X("SCMP_ARCH_X32", SCMP_ARCH_X32)                                                                    \
        X("SCMP_ARCH_ARM", SCMP_ARCH_ARM)                                                                    \
        X("SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64)                                                            \
        X("SCMP_ARCH_MIPS", SCMP_ARCH_MIPS)                                                                  \
        X("SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64)                                                              \
        X("SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32)                                                        \
        X("SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL)                                                              \
        X("SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64)                                                          \
        X("SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32)                                                    \
        X("SCMP_ARCH_PPC", SCMP_ARCH_PPC)                                                                    \
        X("SCMP_ARCH_PPC64", SCMP_ARCH_PPC64)                                                                \
        X("SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE)                                                            \
        X("SCMP_ARCH_S390", SCMP_ARCH_S390)                                                                  \
        X("SCMP_ARCH_S390X", SCMP_ARCH_S390X)                                                                \
        X("SCMP_ARCH_PARISC", SCMP_ARCH_PARISC)                                                              \
        X("SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64)                                                          \
        X("SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64)

/* Flags of seccomp(2) that are honoured without a notify listener. */
#define VC_SECCOMP_FLAGS(X)                                                                                  \
        X("SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC)                                            \
        X("SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG)                                                \
        X("SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW)

#endif
