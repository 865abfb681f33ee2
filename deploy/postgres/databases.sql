-- One database per service (DESIGN.md): pricing never reads inventory's tables.
CREATE DATABASE inventory;
CREATE DATABASE pricing;
