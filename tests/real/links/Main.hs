-- tests/real_links.rs: a Haskell program of two modules, linked by ghc.
module Main where

import Greet (greet)

main :: IO ()
main = putStrLn (greet "links")
