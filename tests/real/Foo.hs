{-# LANGUAGE ForeignFunctionInterface #-}
-- ghc host fixture: `ghc -c Foo.hs && ghc -staticlib -o libfoo_hs.a Foo.o`.
module Foo where

import Foreign.C.Types

foo :: CInt -> CInt
foo n = sum [1 .. n] * 2

foreign export ccall foo :: CInt -> CInt
