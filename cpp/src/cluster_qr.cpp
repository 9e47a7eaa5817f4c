#include "modcore/cluster_qr.hpp"

#include <Eigen/Core>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <cmath>

namespace modcore {

std::vector<std::int32_t> cluster_qr(const double* rows, Index n, int k) {
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const RowMajor> V(rows, n, k);
    const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(V.transpose());
    const auto& pivots = qr.colsPermutation().indices();
    Eigen::MatrixXd picked(k, k);
    for (int j = 0; j < k; ++j) picked.row(j) = V.row(pivots[j]);
    // The orthogonal factor of the picked rows' polar decomposition.
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(picked.transpose(),
                                                Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Eigen::MatrixXd rotation = svd.matrixU() * svd.matrixV().transpose();
    std::vector<std::int32_t> labels(n);
    std::vector<Index> size(k, 0);
    Eigen::RowVectorXd r(k);
    for (Index i = 0; i < n; ++i) {
        r.noalias() = V.row(i) * rotation;
        Eigen::Index arg = 0;
        r.cwiseAbs().maxCoeff(&arg);
        labels[i] = static_cast<std::int32_t>(arg);
        ++size[arg];
    }
    // An axis no unit chose (rare: 0 of 200 reference shuffles) takes the unit
    // closest to it among those whose module keeps another unit, so there are
    // always k modules, as with k-means.
    for (int j = 0; j < k; ++j) {
        if (size[j] > 0) continue;
        Index best = -1;
        double best_value = -1.0;
        for (Index i = 0; i < n; ++i) {
            if (size[labels[i]] < 2) continue;
            const double value = std::fabs(V.row(i).dot(rotation.col(j)));
            if (value > best_value) {
                best_value = value;
                best = i;
            }
        }
        --size[labels[best]];
        labels[best] = j;
        size[j] = 1;
    }
    return labels;
}

}  // namespace modcore
