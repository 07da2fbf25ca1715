-- tests/real_links.rs: the second module of Main.hs.
module Greet (greet) where

greet :: String -> String
greet w = "hello, " ++ w
