-- The policy test kit is installed with the runtime as kata.testing; specs use it under this old name too.
return require("kata.testing")
