"""The kernels that launch a device vjp: one thread per row of a batch, or one thread for one call.

Each is a template filled in with the vjp's name and parameters, added to the vjp's module and
compiled with ``cuda.jit`` (the vjp itself is a device function they call).
"""
from __future__ import annotations

from ..syntax.templates import function

_GRAD_ROWS = '''
def {name}({params}, out, scratch, layout):
    i = cuda.grid(1)
    if i < {x}.shape[0]:
        {vjp}({row_args}, 1.0, out[i], scratch[:, i], layout)
'''

_JACOBIAN_ROWS = '''
def {name}({params}, seeds, y, jac, scratch, layout):
    # Row i's Jacobian, one reverse sweep per output: row j of J[i] is seeds[j]^T dY[i]/dX[i].
    i = cuda.grid(1)
    if i < {x}.shape[0]:
        for j in range(seeds.shape[0]):
            {vjp}({row_args}, seeds[j], y[i], jac[i, j], scratch[:, i], layout)
'''

_SINGLE = '''
def {name}({params}, cotangent, {outs}scratch, layout, values):
    if cuda.grid(1) == 0:
        r = {vjp}({params}, cotangent, {outs}scratch[:, 0], layout)
{stores}
'''


def kinds(adapter, batch_arg) -> list[str]:
    """The kernels a build needs: per-row gradients (a number per row) or Jacobians (an array per
    row) when a batch argument is given, and always the one-thread kernel."""
    rows = [] if batch_arg is None else ["jacobian_rows" if adapter.result else "grad_rows"]
    return rows + ["single"]


def kernel(kind, name, vjp, adapter, batch_arg):
    """The kernel ``kind`` named ``name``, calling the device vjp ``vjp`` (adapted by ``adapter``)."""
    params = adapter.params
    joined = ", ".join(params)
    if kind in ("grad_rows", "jacobian_rows"):
        x = params[batch_arg]
        row_args = ", ".join(f"{p}[i]" if k == batch_arg else p for k, p in enumerate(params))
        template = _GRAD_ROWS if kind == "grad_rows" else _JACOBIAN_ROWS
        return function(template.format(name=name, params=joined, x=x, vjp=vjp, row_args=row_args))
    outs = "".join(f"{o}, " for o in ([adapter.result_out] if adapter.result else [])
                   + [g for _, g, _ in adapter.grad_outs])
    stores = []
    if not adapter.result:
        stores.append("        values[0] = r[0]")
    array_wrt = {k for k, _, _ in adapter.grad_outs}
    for pos, k in enumerate(adapter.wrt):
        if k not in array_wrt:
            stores.append(f"        values[{1 + pos}] = r[1][{pos}]")
    return function(_SINGLE.format(name=name, params=joined, outs=outs, vjp=vjp,
                                   stores="\n".join(stores) or "        pass"))
