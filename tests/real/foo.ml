(* ocamlopt host fixture (NOT final): `ocamlopt -a -o foo.cmxa foo.cmx` runs
   ar, then ranlib, then writes foo.cmxa. *)
let foo x = x * 11
