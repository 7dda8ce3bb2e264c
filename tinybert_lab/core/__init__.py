"""The engine every method and notebook stands on: settings and errors, data and models, the
attention scores, the losses as pure functions, layer maps, the one training loop (with its
data-parallel and streaming parts), evaluation, benchmark records and the plots."""
