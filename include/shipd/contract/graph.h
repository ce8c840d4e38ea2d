// The dependency graph of one environment: nodes are live versions (stable and canary), edges go
// from a consumer to each live provider of an API it requires, marked when the provider's API
// version is outside the range. Requirements no live version provides get an edge to nothing.
// Plain values built from an EnvironmentIndex; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shipd/contract/index.h"

namespace shipd {

struct GraphNode {
  std::string id;  // "orders@3.1.0"
  std::string service;
  std::string version;
  bool canary = false;
  int weight = 100;  // percent of the service's traffic
};

struct GraphEdge {
  std::string from;  // consumer node id
  std::string to;    // provider node id; empty when no live version provides the API
  std::string api;
  std::string range;
  std::string provides;  // the provider's API version; empty when `to` is empty
  bool optional = false;
  bool satisfied = false;
};

struct DependencyGraph {
  std::string environment;
  std::vector<GraphNode> nodes;  // by service, stable before canary
  std::vector<GraphEdge> edges;  // by consumer node, its requirements in order, then provider
};

DependencyGraph BuildDependencyGraph(const EnvironmentIndex& environment);

// {"environment", "nodes": [{id, service, version, role, weight}], "edges": [{from, to, api,
// range, provides, optional, satisfied}]}; `to` is null for a requirement nothing provides.
nlohmann::json GraphToJson(const DependencyGraph& graph);
// Graphviz: unsatisfied edges red (dashed when optional), missing providers as dashed boxes.
std::string GraphToDot(const DependencyGraph& graph);

}  // namespace shipd
