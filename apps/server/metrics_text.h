// /metrics: the serving metrics in Prometheus' text exposition format (version 0.0.4).
#pragma once

#include <string>

#include "engine/serving_metrics.h"

namespace frugal::server {

// gpu_hour_price_usd > 0 adds what a million tokens cost at that price: over the server's whole uptime (what was
// paid, idle time included) and over the time the engine was busy (the price at full load).
std::string render_metrics(const ServingMetrics& m, double gpu_hour_price_usd);

}  // namespace frugal::server
