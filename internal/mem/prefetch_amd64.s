#include "textflag.h"

// func prefetchWrite(p *byte, n int)
//
// PREFETCHW at p and at every 64 bytes after it, then at the last byte,
// so that every line of the range is asked for whatever p's alignment.
// The Go assembler has no mnemonic for PREFETCHW: 0F 0D /1, with (AX).
TEXT ·prefetchWrite(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	LEAQ -1(AX)(CX*1), CX
loop:
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	ADDQ $64, AX
	CMPQ AX, CX
	JLS loop
	MOVQ CX, AX
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	RET
