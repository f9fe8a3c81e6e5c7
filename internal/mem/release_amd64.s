#include "textflag.h"

// func storeRelease64Asm(w *atomic.Uint64, v uint64)
TEXT ·storeRelease64Asm(SB), NOSPLIT, $0-16
	MOVQ w+0(FP), AX
	MOVQ v+8(FP), BX
	MOVQ BX, (AX)
	RET

// func storeRelease32Asm(w *atomic.Uint32, v uint32)
TEXT ·storeRelease32Asm(SB), NOSPLIT, $0-12
	MOVQ w+0(FP), AX
	MOVL v+8(FP), BX
	MOVL BX, (AX)
	RET

// func storeRelease64s(dst *atomic.Uint64, src *byte, n int)
TEXT ·storeRelease64s(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	JMP  copy64s<>(SB)

// func loadAcquire64s(dst *byte, src *atomic.Uint64, n int)
TEXT ·loadAcquire64s(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	JMP  copy64s<>(SB)

// copy64s copies CX (> 0) 8-byte words from SI to DI, one MOVQ load and
// one MOVQ store each, in order: no string instruction, whose fast modes
// may reorder the stores.
TEXT copy64s<>(SB), NOSPLIT|NOFRAME, $0-0
loop:
	MOVQ (SI), AX
	MOVQ AX, (DI)
	ADDQ $8, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  loop
	RET
