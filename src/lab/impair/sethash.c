/* Loads the fabric's tc program and pins it, so `tc filter ... bpf object-pinned` can attach it
 * where packets enter the first router. The program clears skb->hash (bpf_set_hash_invalid): a veth
 * keeps the sender's hash and a router's multipath hash reuses it, so without this a socket's random
 * txhash, not the 5-tuple, would pick the ECMP path. Three instructions, built here without clang.
 *
 *   lab-sethash PIN_PATH     (PIN_PATH on a bpf file system)   exit 0 = pinned
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: lab-sethash PIN_PATH\n");
    return 64;
  }
  /* r1 holds the skb on entry: call the helper with it, then return TC_ACT_OK (0). */
  struct bpf_insn prog[] = {
      {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_set_hash_invalid},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  char log[4096] = "";
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  attr.insns = (unsigned long)prog;
  attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
  attr.license = (unsigned long)"GPL";
  attr.log_buf = (unsigned long)log;
  attr.log_size = sizeof(log);
  attr.log_level = 1;
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    fprintf(stderr, "lab-sethash: BPF_PROG_LOAD: %s\n%s", strerror(errno), log);
    return 1;
  }
  memset(&attr, 0, sizeof(attr));
  attr.pathname = (unsigned long)argv[1];
  attr.bpf_fd = (unsigned)fd;
  if (sys_bpf(BPF_OBJ_PIN, &attr) < 0) {
    fprintf(stderr, "lab-sethash: BPF_OBJ_PIN %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  printf("pinned\n");
  return 0;
}
