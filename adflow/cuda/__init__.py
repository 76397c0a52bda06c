"""``target="cuda"``: reverse-mode derivatives compiled with numba-cuda, one GPU thread per call.

What you get (:mod:`.api`, reached through ``adflow.grad(..., target="cuda")`` and the others):

* ``adflow.grad(f, target="cuda").device_for(*args)`` -> :class:`~adflow.cuda.build.DeviceFunction`:
  a ``numba.cuda.jit(device=True)`` function to call per thread from your own ``@cuda.jit``
  kernel, with its signature and the host-side scratch sizing;
* ``adflow.grad(f, target="cuda", batch=True)(X, ...)`` and
  ``adflow.jacobian(f, target="cuda", batch=True)(X, ...)``: one thread per row of ``X`` (numpy
  arrays in, numpy out; numba device arrays in, device arrays out).  Jacobians on the device run
  one reverse sweep per output (the rows of ``J``) inside the thread;
* ``grad`` / ``value_and_grad`` / ``vjp`` / ``jacobian`` without ``batch``: one thread, for checks;
  ``jvp`` is assembled from vector-Jacobian products.

Forward mode (dual numbers) does not run on the device: dual *arrays* need numba's runtime (NRT)
inside kernels, so ``jacobian(..., target="cuda")`` always uses reverse sweeps and ``hessian``
and ``sparsity=`` are refused.

How, one module per job: :mod:`.sizing` bounds the tapes on the host before a launch,
:mod:`.adapter` rewrites a generated vjp into a device function that allocates nothing (reading
the record the reverse transform attaches, :mod:`adflow.reverse.sweeps`), :mod:`.kernels` holds
the kernels that launch it, :mod:`.build` builds all of it once per function and argument types,
:mod:`.launch` moves arrays and launches, and :mod:`.api` is the entry points.  What the pipeline
asks of the target itself (compiling a module with numba-cuda) is :mod:`adflow.targets.cuda`.
"""
