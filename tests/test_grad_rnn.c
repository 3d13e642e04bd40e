/* GRU and LSTM cells: the forward against PyTorch's formulas written out by
 * hand for one unit. Gradients through all inputs and weights against PyTorch
 * and finite differences: tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"

static double sg(double x) { return 1 / (1 + exp(-x)); }

int main(void) {
    /* one unit, one input: hand-evaluated PyTorch formulas */
    mmf_tape *tp = mmf_tape_new(1, 1);
    float x = 0.7f, h = -0.3f, c = 0.5f;
    float wih[4] = {0.1f, -0.2f, 0.3f, 0.4f}, whh[4] = {0.5f, 0.6f, -0.7f, 0.8f}, bih[4] = {0.01f, 0.02f, 0.03f, 0.04f},
          bhh[4] = {-0.05f, 0.06f, 0.07f, -0.08f};
    int64_t s11[2] = {1, 1}, s31[2] = {3, 1}, s41[2] = {4, 1}, s3[1] = {3}, s4[1] = {4};
    mmf_var X = mmf_t_const(tp, &x, 2, s11), Hh = mmf_t_const(tp, &h, 2, s11), C = mmf_t_const(tp, &c, 2, s11);
    mmf_var g = mmf_t_gru_cell(tp, X, Hh, mmf_t_const(tp, wih, 2, s31), mmf_t_const(tp, whh, 2, s31),
                               mmf_t_const(tp, bih, 1, s3), mmf_t_const(tp, bhh, 1, s3));
    double r = sg(wih[0] * x + bih[0] + whh[0] * h + bhh[0]);
    double z = sg(wih[1] * x + bih[1] + whh[1] * h + bhh[1]);
    double n = tanh(wih[2] * x + bih[2] + r * (whh[2] * h + bhh[2]));
    CHECK_NEAR(mmf_tape_var(tp, g)->v[0], (1 - z) * n + z * h, 1e-6);
    mmf_var ho, co;
    mmf_t_lstm_cell(tp, X, Hh, C, mmf_t_const(tp, wih, 2, s41), mmf_t_const(tp, whh, 2, s41),
                    mmf_t_const(tp, bih, 1, s4), mmf_t_const(tp, bhh, 1, s4), &ho, &co);
    double gi[4];
    for (int k = 0; k < 4; k++) gi[k] = wih[k] * x + bih[k] + whh[k] * h + bhh[k];
    double cc = sg(gi[1]) * c + sg(gi[0]) * tanh(gi[2]);
    CHECK_NEAR(mmf_tape_var(tp, co)->v[0], cc, 1e-6);
    CHECK_NEAR(mmf_tape_var(tp, ho)->v[0], sg(gi[3]) * tanh(cc), 1e-6);
    mmf_tape_free(tp);
    return t_done("test_grad_rnn");
}
