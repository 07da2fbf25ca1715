# nim host fixture (NOT final): `nim c --app:staticlib --noMain -o:libfoo_nim.a foo.nim`
# runs `ar rcs` through system(), then writes its cache json and prints a hint.
proc foo_nim*(x: cint): cint {.exportc, cdecl.} = x * 5
