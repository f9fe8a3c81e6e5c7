//go:build !race

#include "textflag.h"

#define SIGBUS 7
#define BUS_ADRERR 2
#define SYS_mmap 9
#define PROT_RW 3	// PROT_READ|PROT_WRITE
#define MAP_ZEROS 0x4032	// MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_NORESERVE

// sigbus is the SIGBUS handler (see watch.go). The kernel calls it on the
// signal stack with the C ABI: DI the signal, SI its siginfo (si_code at
// 8, si_addr at 16), DX the context; it returns to the kernel's return
// trampoline. A fault in a watched mapping (si_code BUS_ADRERR: the page is
// past the object's end or could not be allocated) sets the slot's hit
// flag and maps private zero pages over the whole mapping; the return
// restores every register and the access runs again. Anything else, or an
// mmap that fails, jumps to the previous handler with DI, SI and DX as
// they came. handling counts the handlers between their entry and their
// last look at the table, for Stop.
TEXT ·sigbus(SB), NOSPLIT|NOFRAME, $0
	MOVL  $1, R11
	LOCK
	XADDL R11, ·handling(SB)
	CMPL  DI, $SIGBUS
	JNE   done
	CMPL  8(SI), $BUS_ADRERR
	JNE   done
	MOVQ  16(SI), AX          // the faulting address
	LEAQ  ·watched(SB), R8    // the slot looked at
	MOVQ  ·watchedLen(SB), CX // slots left to look at

look:
	MOVQ  0(R8), R9           // start; 0 for a free slot
	TESTQ R9, R9
	JZ    next
	CMPQ  AX, R9
	JB    next
	MOVQ  8(R8), R10          // end
	CMPQ  AX, R10
	JAE   next
	MOVL  $1, 16(R8)          // hit
	MOVQ  SI, R12
	MOVQ  DX, R13
	MOVQ  R9, DI
	SUBQ  R9, R10
	MOVQ  R10, SI
	MOVQ  $PROT_RW, DX
	MOVQ  $MAP_ZEROS, R10
	MOVQ  $-1, R8
	XORQ  R9, R9
	MOVQ  $SYS_mmap, AX
	SYSCALL
	MOVL  $SIGBUS, DI
	MOVQ  R12, SI
	MOVQ  R13, DX
	CMPQ  AX, $-4095
	JAE   done
	MOVL  $-1, R11
	LOCK
	XADDL R11, ·handling(SB)
	RET

next:
	ADDQ $24, R8
	DECQ CX
	JNZ  look

done:
	MOVL  $-1, R11
	LOCK
	XADDL R11, ·handling(SB)
	MOVQ  ·next(SB), AX
	JMP   AX

// func sigbusPC() uintptr
TEXT ·sigbusPC(SB), NOSPLIT, $0-8
	LEAQ ·sigbus(SB), AX
	MOVQ AX, ret+0(FP)
	RET
