#!/usr/bin/perl
# Connects to ssld over verified TLS with DBD::MariaDB and its default
# settings, runs SSL_RELOAD and prints the served serial from SHOW VARIABLES,
# @@ssl_last_successful_reload_time and the session's cipher. Settings come
# from the environment: SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD,
# SSLD_CA.
use strict;
use warnings;
use DBI;

my $dsn = "DBI:MariaDB:host=$ENV{SSLD_HOST};port=$ENV{SSLD_PORT}"
  . ";mariadb_ssl=1;mariadb_ssl_verify_server_cert=1;mariadb_ssl_ca_file=$ENV{SSLD_CA}"
  . ";mariadb_connect_timeout=5";
my $dbh = DBI->connect($dsn, $ENV{SSLD_USER}, $ENV{SSLD_PASSWORD}, { RaiseError => 1, PrintError => 0 })
  or die "connect: $DBI::errstr\n";
$dbh->do("SSL_RELOAD");
my $serial = $dbh->selectrow_arrayref("SHOW VARIABLES LIKE 'ssl_server_serial'");
print "serial=$serial->[1]\n";
my ($t) = $dbh->selectrow_array("SELECT \@\@ssl_last_successful_reload_time");
print "reload_time=$t\n";
my $cipher = $dbh->selectrow_arrayref("SHOW STATUS LIKE 'Ssl_cipher'");
print "cipher=$cipher->[1]\n";
$dbh->disconnect;
