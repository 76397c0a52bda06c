"""GradBench ``lstm``: ADBench's LSTM objective (diagonal weight matrices) and its gradient.

``main_params`` holds two rows per layer (the weights of the forget, input, output gates and
the cell change, then their biases, ``b`` numbers each), ``extra_params`` the input weights,
output weights and output biases, ``state`` two rows per layer (hidden, cell), ``sequence`` one
row per character.  The objective runs the layers over the sequence, predicting each next
character, and returns the mean negative log-likelihood.

``objective``: the loops compiled by numba.  ``jacobian``: ``adflow.grad`` with respect to
``(main_params, extra_params)`` (one reverse sweep over the sequence), flattened row by row and
concatenated, as the eval asks.
"""
from __future__ import annotations

import math

import numba
import numpy as np

import adflow

from ._runs import Function, floats, tolist


@numba.njit(cache=True)
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def lstm_objective(main_params, extra_params, state, sequence):
    layers = main_params.shape[0] // 2
    b = main_params.shape[1] // 4
    c = sequence.shape[0]
    s = state.copy()  # rows 2 * layer (hidden) and 2 * layer + 1 (cell), updated as the sequence runs
    ypred = np.zeros(b)
    total = 0.0
    count = 0
    for t in range(c - 1):
        for i in range(b):
            ypred[i] = sequence[t, i] * extra_params[0, i]
        for layer in range(layers):
            wr = 2 * layer       # weights (and the hidden state's row)
            br = 2 * layer + 1   # biases (and the cell state's row)
            for i in range(b):
                if layer == 0:
                    x = ypred[i]
                else:
                    x = s[wr - 2, i]  # the hidden state of the layer below, just updated
                h = s[wr, i]
                forget = sigmoid(x * main_params[wr, i] + main_params[br, i])
                ingate = sigmoid(h * main_params[wr, b + i] + main_params[br, b + i])
                outgate = sigmoid(x * main_params[wr, 2 * b + i] + main_params[br, 2 * b + i])
                change = math.tanh(h * main_params[wr, 3 * b + i] + main_params[br, 3 * b + i])
                cell = s[br, i] * forget + ingate * change
                s[br, i] = cell
                s[wr, i] = outgate * math.tanh(cell)
        top = 2 * (layers - 1)
        for i in range(b):
            ypred[i] = s[top, i] * extra_params[1, i] + extra_params[2, i]
        sum_exp = 0.0
        for i in range(b):
            sum_exp = sum_exp + math.exp(ypred[i])
        lse = math.log(sum_exp + 2.0)
        for i in range(b):
            total = total + sequence[t + 1, i] * (ypred[i] - lse)
        count = count + b
    return -total / count


objective_compiled = numba.njit(cache=True)(lstm_objective)
gradient_of_lstm = adflow.grad(lstm_objective, wrt=(0, 1), target="cpu")


def lstm_gradient(main_params, extra_params, state, sequence):
    d_main, d_extra = gradient_of_lstm(main_params, extra_params, state, sequence)
    return np.concatenate((d_main.ravel(), d_extra.ravel()))


def _prepare(input):
    return (floats(input["main_params"]), floats(input["extra_params"]), floats(input["state"]),
            floats(input["sequence"]))


FUNCTIONS = {
    "objective": Function(_prepare, objective_compiled, float),
    "jacobian": Function(_prepare, lstm_gradient, tolist),
}
